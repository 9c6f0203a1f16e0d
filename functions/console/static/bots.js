// The left panel (every bot the caller may see, with its lifecycle actions) and the "Add bot" form.
import { api, instancePath } from "./api.js";
import { confirmDialog } from "./dialog.js";
import { clear, copyToClipboard, h, notice, srOnly } from "./dom.js";
import { describeError, Form, submitting } from "./forms.js";
import { t } from "./i18n.js";
import { slugify } from "./slug.js";
import { aiFields, backendOptions } from "./bot.js";

const PAGE_SIZE = 20;

export function renderBotList(container, context, currentId) {
  const list = h("ul", { class: "bot-list" });
  const status = h("div", { "aria-live": "polite" });
  const more = h("button", { type: "button", class: "more", hidden: true }, t("More"));
  let cursor = null;

  async function load() {
    more.disabled = true;
    try {
      const query = new URLSearchParams({ limit: String(PAGE_SIZE) });
      if (cursor) query.set("cursor", cursor);
      const page = await api.get(`/admin/whatsapp/instances?${query}`);
      if (!page.items.length && !list.children.length) list.append(h("li", { class: "empty" }, t("No bots yet.")));
      for (const bot of page.items) list.append(botItem(bot));
      cursor = page.next;
      more.hidden = !cursor;
    } catch (error) {
      status.replaceChildren(notice("error", describeError(error)));
    } finally {
      more.disabled = false;
    }
  }

  function botItem(bot) {
    const item = h("li", { class: "bot", dataset: { id: bot.id } });
    const draw = (current) => {
      const running = current.running;
      const actions = context.canWrite ? h("div", { class: "actions" },
        h("button", { type: "button", dataset: { action: "start" }, disabled: running || null, onclick: () => lifecycle("start") }, t("Start")),
        h("button", { type: "button", dataset: { action: "stop" }, disabled: !running || null, onclick: () => lifecycle("stop") }, t("Stop")),
        h("button", { type: "button", dataset: { action: "restart" }, onclick: () => lifecycle("restart") }, t("Restart")),
        h("button", { type: "button", class: "danger", onclick: remove }, t("Delete"))) : null;
      clear(item,
        h("div", { class: "bot-line" },
          h("span", { class: `indicator ${running ? "on" : "off"}`, "aria-hidden": "true" }),
          srOnly(running ? t("running") : t("stopped")),
          h("a", { href: `#/bots/${encodeURIComponent(current.id)}/settings`,
            "aria-current": current.id === currentId ? "page" : null }, current.name),
          h("span", { class: `tag ${current.enabled ? "tag-on" : "tag-off"}` }, current.enabled ? t("Enabled") : t("Disabled"))),
        actions);
      item.dataset.running = running ? "true" : "false";
    };

    async function lifecycle(action) {
      try {
        await api.post(instancePath(bot.id, `/${action}`));
        const fresh = await api.get(instancePath(bot.id));
        Object.assign(bot, fresh);
        draw(bot);
        // Keep the keyboard where it was: the button that undoes what was just done.
        const next = { start: "stop", stop: "start", restart: "restart" }[action];
        item.querySelector(`[data-action="${next}"]`)?.focus();
        document.dispatchEvent(new CustomEvent("bot-changed", { detail: { id: bot.id } }));
      } catch (error) {
        status.replaceChildren(notice("error", describeError(error)));
      }
    }

    async function remove() {
      const yes = await confirmDialog(t("Delete bot"),
        t("Delete {name}? Its settings, secrets, conversations, logs and stats are removed for good.", { name: bot.name }),
        t("Delete"));
      if (!yes) return;
      try {
        await api.del(instancePath(bot.id));
        item.remove();
        if (location.hash.startsWith(`#/bots/${encodeURIComponent(bot.id)}/`)) location.hash = "#/overview";
      } catch (error) {
        status.replaceChildren(notice("error", describeError(error)));
      }
    }

    draw(bot);
    return item;
  }

  more.addEventListener("click", load);
  clear(container,
    h("div", { class: "sidebar-head" }, h("h2", {}, t("Bots")),
      context.canWrite ? h("a", { class: "button primary", href: "#/bots/new" }, t("Add bot")) : null),
    status, list, more);
  load();
}

function randomToken() {
  const bytes = new Uint8Array(18);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

export async function renderAddBot(container, context) {
  if (!context.canWrite) {
    clear(container, notice("info", t("Read-only: your role can view but not change.")));
    return;
  }
  const providers = await api.get("/admin/llm/providers").catch(() => ({ items: [] }));
  const form = new Form([
    { path: "name", label: t("Name"), kind: "text" },
    { path: "phone_number_id", label: t("Phone Number ID"), kind: "text", inputmode: "numeric" },
    { path: "waba_id", label: t("WABA ID"), kind: "text", inputmode: "numeric" },
    { path: "access_token", label: t("Access Token"), kind: "secret" },
    { path: "app_secret", label: t("App Secret"), kind: "secret" },
    { path: "verify_token", label: t("Verify Token"), kind: "secret", help: t("Leave empty to generate one.") },
    ...aiFields(backendOptions(providers.items)).filter((spec) => ["llm_backend", "llm_model", "system_prompt"].includes(spec.path)),
  ]);
  const nameField = form.fields[0];
  const preview = h("p", { class: "slug-preview", "aria-live": "polite" });
  const updatePreview = () => { preview.textContent = nameField.input.value.trim() ? t("Will be id: {slug}", { slug: slugify(nameField.input.value) }) : ""; };
  nameField.input.addEventListener("input", updatePreview);
  nameField.wrapper.append(preview);
  for (const f of form.fields) if (f.spec.kind === "secret" && f.spec.path !== "verify_token") { f.help.hidden = true; }
  const save = h("button", { type: "submit", class: "primary" }, t("Save"));
  const element = h("form", { class: "card", novalidate: true, onsubmit: async (event) => {
    event.preventDefault();
    const body = form.values();
    for (const key of ["llm_model", "waba_id"]) if (body[key] === null) delete body[key];
    if (!body.system_prompt) delete body.system_prompt;
    const verifyToken = body.verify_token || randomToken();
    body.verify_token = verifyToken;
    const created = await submitting(save, form, () => api.post("/admin/whatsapp/instances", body));
    if (!created) return;
    context.refreshList();
    showConnect(container, created, verifyToken);
  } },
  h("h1", {}, t("Add bot")),
  h("fieldset", {}, h("legend", {}, t("WhatsApp Cloud API")), form.elements.slice(0, 6)),
  h("fieldset", {}, h("legend", {}, t("AI")), form.elements.slice(6)),
  form.status, save);
  clear(container, element);
  nameField.input.focus();
}

function copyRow(label, value) {
  const id = `copy-${label.replace(/\W+/g, "-").toLowerCase()}`;
  const output = h("input", { id, type: "text", readonly: true, value });
  const done = h("span", { class: "copied", "aria-live": "polite" });
  return h("div", { class: "field copy-row" }, h("label", { for: id }, label),
    h("div", { class: "copy-line" }, output,
      h("button", { type: "button", "aria-label": `${t("Copy")}: ${label}`, onclick: async () => {
        output.select();
        done.textContent = (await copyToClipboard(value)) ? t("Copied.") : "";
      } }, t("Copy")), done));
}

function showConnect(container, created, verifyToken) {
  clear(container, h("section", { class: "card connect" },
    h("h1", {}, t("Bot {id} created.", { id: created.id })),
    h("h2", {}, t("Connect the bot in Meta's dashboard")),
    h("p", {}, t("In your app's WhatsApp configuration, set the callback URL and verify token below, then subscribe to the messages field.")),
    copyRow(t("Callback URL"), created.webhook_url),
    copyRow(t("Verify Token"), verifyToken),
    h("p", { class: "help" }, t("The verify token is shown only now.")),
    copyRow(t("Webhook field to subscribe"), "messages"),
    h("a", { class: "button primary", href: `#/bots/${encodeURIComponent(created.id)}/settings` }, t("Open the bot"))));
  container.querySelector("h1").focus?.();
}
