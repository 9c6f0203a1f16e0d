// Forms built from field descriptions: every input has its label, its own error slot (aria-describedby),
// and knows the API field it edits, so a 422's detail[].loc is shown next to the field it names.
import { ApiError } from "./api.js";
import { h, notice, uid } from "./dom.js";
import { t } from "./i18n.js";

// kind: text | number | textarea | checkbox | select | secret | lines | readonly
export function field(spec) {
  const id = uid("field");
  const errorId = `${id}-error`;
  const helpId = `${id}-help`;
  const describedBy = [spec.help || spec.kind === "secret" ? helpId : null, errorId].filter(Boolean).join(" ");
  const common = { id, name: spec.path, "aria-describedby": describedBy, disabled: spec.disabled || null };
  let input;
  switch (spec.kind) {
    case "textarea":
    case "lines":
      input = h("textarea", { ...common, rows: spec.rows || 4, spellcheck: spec.kind === "lines" ? "false" : null });
      break;
    case "checkbox":
      input = h("input", { ...common, type: "checkbox" });
      break;
    case "select":
      input = h("select", common, (spec.options || []).map(([value, label]) => h("option", { value }, label)));
      break;
    case "secret":
      input = h("input", { ...common, type: "password", autocomplete: "new-password", spellcheck: "false" });
      break;
    case "readonly":
      input = h("input", { ...common, type: "text", readonly: true });
      break;
    default:
      input = h("input", {
        ...common,
        type: spec.kind === "number" ? "number" : "text",
        step: spec.step || null,
        min: spec.min ?? null,
        max: spec.max ?? null,
        inputmode: spec.inputmode || null,
        autocomplete: "off",
        placeholder: spec.placeholder || null,
      });
  }
  const help = h("p", { id: helpId, class: "help" }, spec.help || "");
  const error = h("p", { id: errorId, class: "field-error", hidden: true });
  const label = h("label", { for: id }, spec.label);
  const wrapper = spec.kind === "checkbox"
    ? h("div", { class: "field field-checkbox" }, input, label, help, error)
    : h("div", { class: "field" }, label, input, help, error);
  if (!spec.help && spec.kind !== "secret") help.hidden = true;
  return { spec, input, help, error, wrapper };
}

export class Form {
  // fields: specs; each spec.path is the API field ("llm_params.temperature").
  constructor(specs, { readOnly = false } = {}) {
    this.fields = specs.map((spec) => field({ ...spec, disabled: spec.disabled || (readOnly && spec.kind !== "readonly") }));
    this.status = h("div", { class: "form-status", "aria-live": "polite" });
    this.readOnly = readOnly;
  }

  get elements() {
    return this.fields.map((f) => f.wrapper);
  }

  fill(data) {
    for (const f of this.fields) {
      const { kind } = f.spec;
      // Instances answer their secrets masked under `secrets`; providers and settings beside the other fields.
      const value = kind === "secret" ? getPath(data, `secrets.${f.spec.path}`) ?? getPath(data, f.spec.path)
        : getPath(data, f.spec.path);
      if (kind === "checkbox") f.input.checked = Boolean(value);
      else if (kind === "secret") {
        f.input.value = "";
        f.help.textContent = value ? t("Set: ends in {last}. Type a new value to replace it.", { last: String(value).replace(/^\*+/, "") || "****" }) : t("Not set.");
        f.help.hidden = false;
      } else if (kind === "lines") f.input.value = (value || []).join("\n");
      else f.input.value = value === null || value === undefined ? "" : String(value);
    }
  }

  // The body for the API: every field of the form; secrets only when typed; empty optional values are null.
  values() {
    const body = {};
    for (const f of this.fields) {
      const { spec, input } = f;
      if (spec.kind === "readonly" || spec.skip) continue;
      let value;
      if (spec.kind === "checkbox") value = input.checked;
      else if (spec.kind === "secret") {
        if (!input.value) continue;
        value = input.value;
      } else if (spec.kind === "lines") value = input.value.split("\n").map((s) => s.trim()).filter(Boolean);
      else if (spec.kind === "number") value = input.value === "" ? null : Number(input.value);
      else if (input.value === "") value = spec.emptyAs === undefined ? null : spec.emptyAs;
      else value = input.value;
      setPath(body, spec.path, value);
    }
    return body;
  }

  clearErrors() {
    this.status.replaceChildren();
    for (const f of this.fields) {
      f.error.hidden = true;
      f.error.textContent = "";
      f.input.removeAttribute("aria-invalid");
    }
  }

  showSuccess(text) {
    this.clearErrors();
    this.status.replaceChildren(notice("success", text));
  }

  // Shows an API error: 422s at their fields (the rest in the form's status), others as a sentence.
  showError(error) {
    this.clearErrors();
    if (!(error instanceof ApiError) || error.status !== 422) {
      this.status.replaceChildren(notice("error", describeError(error)));
      return;
    }
    const unplaced = [];
    for (const { path, msg } of error.fieldErrors) {
      const target = this.fields.find((f) => path === f.spec.path || path.startsWith(`${f.spec.path}.`));
      if (target) {
        target.error.hidden = false;
        target.error.textContent = target.error.textContent ? `${target.error.textContent}; ${msg}` : msg;
        target.input.setAttribute("aria-invalid", "true");
      } else unplaced.push(path ? `${path}: ${msg}` : msg);
    }
    this.status.replaceChildren(notice("error", t("Please correct the marked fields.")),
      unplaced.length ? h("ul", { class: "problems" }, unplaced.map((text) => h("li", {}, text))) : null);
    const first = this.fields.find((f) => !f.error.hidden);
    if (first) first.input.focus();
  }
}

export function describeError(error) {
  if (!(error instanceof ApiError)) return t("Something went wrong on the server. Try again.");
  if (error.status === 0) return t("The server could not be reached. Try again.");
  if (error.status === 403) return t("You may not do this with your role.");
  if (error.status === 404) return t("Not found: it may have been deleted, or it is not yours.");
  if (error.status === 409) return t("Conflict: ") + error.message;
  if (error.status === 422) {
    return error.fieldErrors.map(({ path, msg }) => (path ? `${path}: ${msg}` : msg)).join("; ");
  }
  if (error.status === 401) return t("Your session has ended or the key was revoked. Sign in again.");
  return t("Something went wrong on the server. Try again.");
}

export function getPath(data, path) {
  return path.split(".").reduce((value, key) => (value === null || value === undefined ? undefined : value[key]), data);
}

function setPath(target, path, value) {
  const keys = path.split(".");
  let node = target;
  for (const key of keys.slice(0, -1)) {
    node[key] = node[key] || {};
    node = node[key];
  }
  node[keys[keys.length - 1]] = value;
}

// Runs an async action with a busy button, and shows its outcome in the form.
export async function submitting(button, form, action) {
  const label = button.textContent;
  button.disabled = true;
  button.textContent = t("Saving…");
  try {
    return await action();
  } catch (error) {
    form.showError(error);
    return undefined;
  } finally {
    button.disabled = false;
    button.textContent = label;
  }
}
