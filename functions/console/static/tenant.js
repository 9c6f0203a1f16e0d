// Tenant pages: the overview, API keys, LLM providers and the tenant's settings.
import { api } from "./api.js";
import { COUNTER_COLUMNS } from "./bot.js";
import { confirmDialog } from "./dialog.js";
import { clear, copyToClipboard, formatTime, h, notice } from "./dom.js";
import { describeError, Form, submitting } from "./forms.js";
import { t } from "./i18n.js";

function table(columns, rows) {
  return h("table", { class: "data" },
    h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col" }, c)))),
    h("tbody", {}, rows));
}

export async function renderOverview(container, context) {
  clear(container, h("h1", {}, t("Overview")), h("p", { class: "loading" }, t("Loading…")));
  try {
    const stats = await api.get("/admin/whatsapp/stats?days=7");
    const byBot = Object.entries(stats.by_instance);
    clear(container, h("h1", {}, t("Overview")),
      h("section", { class: "card" },
        h("h2", {}, t("Totals over the last 7 days")),
        h("dl", { class: "totals" },
          h("div", {}, h("dt", {}, t("Instances")), h("dd", {}, String(stats.instances))),
          COUNTER_COLUMNS.map(([name, label]) => h("div", {}, h("dt", {}, t(label)), h("dd", {}, String(stats.totals[name] || 0)))))),
      h("section", { class: "card", "data-testid": "needs-attention" }, h("h2", {}, t("Needs attention")),
        stats.not_ok.length ? table([t("Bot"), t("Health"), t("Reason")], stats.not_ok.map((bot) => h("tr", {},
          h("th", { scope: "row" }, h("a", { href: `#/bots/${encodeURIComponent(bot.id)}/health` }, bot.id)),
          h("td", {}, h("span", { class: `health health-${bot.status}` }, t(bot.status))), h("td", {}, bot.reason))))
          : h("p", {}, t("Every bot is healthy."))),
      byBot.length ? h("section", { class: "card" }, h("h2", {}, t("By bot")),
        table([t("Bot"), ...COUNTER_COLUMNS.map(([, label]) => t(label))],
          byBot.map(([id, counters]) => h("tr", {},
            h("th", { scope: "row" }, h("a", { href: `#/bots/${encodeURIComponent(id)}/stats` }, id)),
            COUNTER_COLUMNS.map(([name]) => h("td", {}, String(counters[name] || 0))))))) : null);
  } catch (error) {
    clear(container, h("h1", {}, t("Overview")), notice("error", describeError(error)));
  }
}

function shownOnce(label, value) {
  const output = h("input", { id: "new-key", type: "text", readonly: true, value, class: "code" });
  const done = h("span", { "aria-live": "polite" });
  return h("div", { class: "card once" }, h("label", { for: "new-key" }, label),
    h("div", { class: "copy-line" }, output, h("button", { type: "button", onclick: async () => {
      output.select();
      done.textContent = (await copyToClipboard(value)) ? t("Copied.") : "";
    } }, t("Copy")), done));
}

export async function renderKeys(container, context) {
  if (!context.isAdmin) {
    clear(container, h("h1", {}, t("API keys")), notice("error", t("You may not do this with your role.")));
    return;
  }
  const form = new Form([
    { path: "role", label: t("Role"), kind: "select", options: [["user", t("user")], ["guest", t("guest")], ["admin", t("admin")]] },
    { path: "principal_id", label: t("Principal"), kind: "text" },
  ]);
  const created = h("div");
  const listArea = h("div", { "aria-live": "polite" });
  const save = h("button", { type: "submit", class: "primary" }, t("Create"));
  clear(container, h("h1", {}, t("API keys")),
    h("form", { class: "card", novalidate: true, onsubmit: async (event) => {
      event.preventDefault();
      const key = await submitting(save, form, () => api.post("/admin/api-keys", form.values()));
      if (!key) return;
      form.showSuccess(t("Saved."));
      clear(created, shownOnce(t("New API key (shown only now)"), key.api_key));
      form.fields[1].input.value = "";
      await load();
    } }, h("h2", {}, t("Create API key")), form.elements, form.status, save),
    created, listArea);

  async function load() {
    try {
      const keys = await api.get("/admin/api-keys");
      clear(listArea, table([t("Key id"), t("Role"), t("Principal"), t("Created"), t("Created by"), t("Revoked"), ""],
        keys.items.map((key) => h("tr", {},
          h("td", {}, h("code", {}, key.key_id)), h("td", {}, t(key.role)), h("td", {}, key.principal_id),
          h("td", {}, formatTime(key.created_at)), h("td", {}, key.created_by || "—"), h("td", {}, formatTime(key.revoked_at)),
          h("td", {}, key.revoked_at ? "" : h("button", { type: "button", class: "danger",
            "aria-label": `${t("Revoke")} ${key.key_id}`, onclick: () => revoke(key.key_id) }, t("Revoke")))))));
    } catch (error) {
      clear(listArea, notice("error", describeError(error)));
    }
  }

  async function revoke(keyId) {
    if (!(await confirmDialog(t("Revoke"), t("Revoke key {id}? Calls with it stop within 5 minutes.", { id: keyId }), t("Revoke")))) return;
    try {
      await api.del(`/admin/api-keys/${encodeURIComponent(keyId)}`);
      await load();
      listArea.prepend(notice("success", t("Key revoked.")));
    } catch (error) {
      listArea.prepend(notice("error", describeError(error)));
    }
  }
  await load();
}

function providerSpecs(creating) {
  return [
    creating ? { path: "id", label: t("ID"), kind: "text", help: t("Leave empty to derive it from the name.") } : null,
    { path: "name", label: t("Name"), kind: "text", emptyAs: "" },
    { path: "kind", label: t("Kind"), kind: "select", options: [["openai", "openai"], ["gemini", "gemini"], ["anthropic", "anthropic"]] },
    { path: "base_url", label: t("Base URL"), kind: "text", emptyAs: "" },
    { path: "model", label: t("Model"), kind: "text", emptyAs: "" },
    { path: "api_key", label: t("API key"), kind: "secret" },
  ].filter(Boolean);
}

export async function renderProviders(container, context) {
  const listArea = h("div", { "aria-live": "polite" });
  const editor = h("div");
  clear(container, h("h1", {}, t("LLM providers")), listArea, editor);

  function showForm(provider) {
    const form = new Form(providerSpecs(!provider), { readOnly: !context.isAdmin });
    if (provider) form.fill(provider);
    const save = h("button", { type: "submit", class: "primary" }, t("Save"));
    clear(editor, h("form", { class: "card", novalidate: true, onsubmit: async (event) => {
      event.preventDefault();
      const body = form.values();
      if (!provider && body.id === null) delete body.id;
      const saved = await submitting(save, form, () => (provider
        ? api.put(`/admin/llm/providers/${encodeURIComponent(provider.id)}`, body)
        : api.post("/admin/llm/providers", body)));
      if (!saved) return;
      await load();
      showForm(saved);
      editor.querySelector(".form-status").replaceChildren(notice("success", t("Saved.")));
    } }, h("h2", {}, provider ? t("Edit provider {id}", { id: provider.id }) : t("Add provider")),
    form.elements, form.status, context.isAdmin ? save : null));
  }

  async function remove(provider) {
    if (!(await confirmDialog(t("Remove"), t("Remove provider {id}?", { id: provider.id }), t("Remove")))) return;
    try {
      await api.del(`/admin/llm/providers/${encodeURIComponent(provider.id)}`);
      clear(editor);
      await load();
      listArea.prepend(notice("success", t("Provider removed.")));
    } catch (error) {
      listArea.prepend(notice("error", describeError(error)));
    }
  }

  async function load() {
    try {
      const providers = await api.get("/admin/llm/providers");
      clear(listArea,
        context.isAdmin ? h("div", { class: "button-row" }, h("button", { type: "button", class: "primary", onclick: () => showForm(null) }, t("Add provider"))) : null,
        providers.items.length ? table([t("ID"), t("Name"), t("Kind"), t("Base URL"), t("Model"), t("Backend value"), t("API key"), ""],
          providers.items.map((p) => h("tr", {},
            h("td", {}, h("code", {}, p.id)), h("td", {}, p.name), h("td", {}, p.kind), h("td", {}, p.base_url), h("td", {}, p.model),
            h("td", {}, h("code", {}, p.backend)), h("td", {}, p.api_key || "—"),
            h("td", {}, h("button", { type: "button", "aria-label": `${t("Edit")} ${p.id}`, onclick: () => showForm(p) }, t("Edit")),
              context.isAdmin ? h("button", { type: "button", class: "danger", "aria-label": `${t("Remove")} ${p.id}`, onclick: () => remove(p) }, t("Remove")) : null))))
          : h("p", {}, t("No providers yet.")));
    } catch (error) {
      clear(listArea, notice("error", describeError(error)));
    }
  }
  await load();
}

export async function renderSettings(container, context) {
  const form = new Form([
    { path: "vllm_base_url", label: t("vLLM Base URL"), kind: "text" },
    { path: "vllm_model", label: t("vLLM Model"), kind: "text" },
    { path: "gemini_model", label: t("Gemini Model"), kind: "text" },
    { path: "gemini_base_url", label: t("Gemini Base URL"), kind: "text" },
    { path: "tts_base_urls.xtts", label: t("XTTS URL"), kind: "text" },
    { path: "tts_base_urls.piper", label: t("Piper URL"), kind: "text" },
    { path: "tts_base_urls.openvoice", label: t("OpenVoice URL"), kind: "text" },
    { path: "gemini_api_key", label: t("Gemini API Key"), kind: "secret" },
    { path: "stt_base_url", label: t("Speech-to-text Base URL"), kind: "text",
      help: t("An OpenAI-compatible server with /v1/audio/transcriptions.") },
    { path: "stt_model", label: t("Speech-to-text Model"), kind: "text" },
    { path: "stt_api_key", label: t("Speech-to-text API Key"), kind: "secret" },
  ], { readOnly: !context.isAdmin });
  const save = h("button", { type: "submit", class: "primary" }, t("Save"));
  clear(container, h("h1", {}, t("Tenant settings")), h("p", { class: "loading" }, t("Loading…")));
  try {
    form.fill(await api.get("/admin/settings"));
  } catch (error) {
    clear(container, h("h1", {}, t("Tenant settings")), notice("error", describeError(error)));
    return;
  }
  clear(container, h("h1", {}, t("Tenant settings")),
    h("form", { class: "card", novalidate: true, onsubmit: async (event) => {
      event.preventDefault();
      const body = form.values();
      // The engines' URLs are one setting: only the given ones, none at all resets it.
      const urls = Object.fromEntries(Object.entries(body.tts_base_urls || {}).filter(([, url]) => url));
      body.tts_base_urls = Object.keys(urls).length ? urls : null;
      const saved = await submitting(save, form, () => api.put("/admin/settings", body));
      if (!saved) return;
      form.fill(saved);
      form.showSuccess(t("Saved."));
    } }, h("p", { class: "help" }, t("Empty resets a setting to the platform's default.")),
    form.elements, form.status, context.isAdmin ? save : null));
}
