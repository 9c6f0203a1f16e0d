// A modal confirmation built on <dialog> (focus trapped and Escape handled by the browser).
import { h } from "./dom.js";
import { t } from "./i18n.js";

export function confirmDialog(title, text, confirmLabel) {
  return new Promise((resolve) => {
    const titleId = "confirm-title";
    const dialog = h("dialog", { class: "confirm", "aria-labelledby": titleId },
      h("form", { method: "dialog" },
        h("h2", { id: titleId }, title),
        h("p", {}, text),
        h("div", { class: "dialog-actions" },
          h("button", { value: "cancel", type: "submit", autofocus: true }, t("Cancel")),
          h("button", { value: "confirm", type: "submit", class: "danger" }, confirmLabel))));
    dialog.addEventListener("close", () => {
      const confirmed = dialog.returnValue === "confirm";
      dialog.remove();
      resolve(confirmed);
    });
    document.body.append(dialog);
    dialog.showModal();
  });
}
