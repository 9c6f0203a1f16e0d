// A bot's "Funnel" tab: the flow document as JSON (saved through the API's validation, problems listed
// by node and field), the shipped templates, and a simulator that shows what the bot would send.
import { api, instancePath } from "./api.js";
import { confirmDialog } from "./dialog.js";
import { clear, h, notice } from "./dom.js";
import { describeError } from "./forms.js";
import { t } from "./i18n.js";

function problemList(title, problems, kind) {
  if (!problems.length) return null;
  return h("div", { class: `notice notice-${kind}` }, h("h3", {}, title),
    h("ul", { class: "problems" }, problems.map(({ path, msg }) => h("li", {}, h("code", {}, path || "flow"), ` — ${msg}`))));
}

const asProblems = (items) => (items || []).map((p) => ({ path: (p.loc || []).join("."), msg: p.msg }));

// One Graph API message body as a chat bubble; buttons and list rows can be tapped (they become the next input).
function bubble(message, onReply) {
  const parts = [];
  if (message.type === "text") parts.push(h("p", { class: "bubble-text" }, message.text?.body || ""));
  else if (message.type === "interactive") {
    const box = message.interactive || {};
    if (box.header?.text) parts.push(h("p", { class: "bubble-header" }, box.header.text));
    parts.push(h("p", { class: "bubble-text" }, box.body?.text || ""));
    if (box.footer?.text) parts.push(h("p", { class: "bubble-footer" }, box.footer.text));
    const options = box.type === "button"
      ? (box.action?.buttons || []).map((b) => b.reply)
      : (box.action?.sections || []).flatMap((section) => section.rows || []);
    parts.push(h("div", { class: "bubble-options" }, options.map((option) =>
      h("button", { type: "button", class: "option", title: option.description || null, onclick: () => onReply(option) }, option.title))));
  } else {
    const media = message[message.type] || {};
    parts.push(h("p", { class: "bubble-text" }, `[${message.type}] ${media.caption || media.link || media.id || ""}`));
  }
  return h("li", { class: "bubble bubble-bot" }, parts);
}

export async function renderFunnelTab(panel, context, id) {
  clear(panel, h("p", { class: "loading" }, t("Loading…")));
  let funnel;
  let templates;
  try {
    [funnel, templates] = await Promise.all([api.get(instancePath(id, "/funnel")), api.get("/admin/funnel/templates")]);
  } catch (error) {
    clear(panel, notice("error", describeError(error)));
    return;
  }
  const editor = h("textarea", { id: "funnel-json", class: "code", rows: 24, spellcheck: "false",
    "aria-describedby": "funnel-kind funnel-problems", disabled: !context.canWrite || null });
  const kind = h("p", { id: "funnel-kind", class: "help" });
  const problems = h("div", { id: "funnel-problems", "aria-live": "polite" });
  const show = (result) => {
    editor.value = JSON.stringify(result.definition, null, 2);
    kind.textContent = result.custom ? t("Custom funnel") : t("Default funnel");
    problems.replaceChildren(problemList(t("Warnings"), asProblems(result.warnings), "info") || "");
  };
  show(funnel);

  function draft() {
    try {
      return JSON.parse(editor.value);
    } catch (error) {
      problems.replaceChildren(notice("error", t("The text is not valid JSON: {error}", { error: error.message })));
      editor.focus();
      return undefined;
    }
  }

  function showError(error) {
    if (error.status === 422) problems.replaceChildren(problemList(t("Problems"), error.fieldErrors, "error"));
    else problems.replaceChildren(notice("error", describeError(error)));
  }

  async function save() {
    const document_ = draft();
    if (document_ === undefined) return;
    try {
      const saved = await api.put(instancePath(id, "/funnel"), document_);
      show(saved);
      problems.prepend(notice("success", t("Saved.")));
    } catch (error) {
      showError(error);
    }
  }

  async function reset() {
    if (!(await confirmDialog(t("Reset to default"), t("Reset the funnel to the platform's default?"), t("Reset to default")))) return;
    try {
      show(await api.del(instancePath(id, "/funnel")));
      problems.prepend(notice("success", t("Funnel reset to the default.")));
    } catch (error) {
      problems.replaceChildren(notice("error", describeError(error)));
    }
  }

  const templateSelect = h("select", { id: "funnel-template" },
    templates.items.map((item) => h("option", { value: item.name }, `${item.title} — ${item.description}`)));
  async function useTemplate() {
    const name = templateSelect.value;
    if (!(await confirmDialog(t("Use template"), t("Replace this bot's funnel with the template {name}?", { name }), t("Use template")))) return;
    try {
      show(await api.put(instancePath(id, "/funnel"), { template: name }));
      problems.prepend(notice("success", t("Saved.")));
    } catch (error) {
      showError(error);
    }
  }

  // The simulator replays every input so far against the draft in the editor (stateless API).
  const inputs = [];
  const titles = new Map(); // reply id -> the title the user tapped, for the chat
  const chat = h("ol", { class: "chat", "aria-live": "polite", "aria-label": t("Simulated conversation") });
  const simStatus = h("div", { "aria-live": "polite" });
  const message = h("input", { id: "simulate-message", type: "text", autocomplete: "off" });
  async function simulate(next) {
    const document_ = draft();
    if (document_ === undefined) return;
    const attempt = [...inputs, next];
    try {
      const result = await api.post(instancePath(id, "/funnel/simulate"), { definition: document_, inputs: attempt });
      inputs.push(next);
      clear(chat);
      result.turns.forEach((turn) => {
        chat.append(h("li", { class: "bubble bubble-user" }, turn.input.text ?? `▸ ${titles.get(turn.input.reply) || turn.input.reply}`));
        for (const body of turn.messages) {
          chat.append(bubble(body, (option) => {
            titles.set(option.id, option.title);
            simulate({ reply: option.id });
          }));
        }
        if (turn.llm) chat.append(h("li", { class: "bubble bubble-note" }, t("To the AI: {text}", { text: turn.llm.prompt || turn.llm.message || "" })));
        if (turn.handoff) chat.append(h("li", { class: "bubble bubble-note" }, t("Handed to a human")));
      });
      simStatus.replaceChildren(h("p", { class: "help" }, t("At node {node}; variables: {vars}",
        { node: result.at || "—", vars: JSON.stringify(result.variables) })));
    } catch (error) {
      if (error.status === 422) simStatus.replaceChildren(problemList(t("Problems"), error.fieldErrors, "error"));
      else simStatus.replaceChildren(notice("error", describeError(error)));
    }
  }
  const simulator = h("section", { class: "card simulator" },
    h("h2", {}, t("Simulate")),
    h("p", { class: "help" }, t("Try the flow in the editor as a user would: nothing is sent or saved.")),
    chat, simStatus,
    h("form", { class: "button-row", novalidate: true, onsubmit: (event) => {
      event.preventDefault();
      if (message.value.trim()) simulate({ text: message.value.trim() });
      message.value = "";
    } }, h("label", { for: "simulate-message" }, t("Message")), message,
    h("button", { type: "submit", class: "primary" }, t("Send")),
    h("button", { type: "button", onclick: () => { inputs.length = 0; clear(chat); simStatus.replaceChildren(); } }, t("Start over"))));

  clear(panel,
    h("div", { class: "card" },
      h("label", { for: "funnel-json", class: "block-label" }, t("Funnel JSON")), kind, editor, problems,
      context.canWrite ? h("div", { class: "button-row" },
        h("button", { type: "button", class: "primary", onclick: save }, t("Save")),
        h("button", { type: "button", onclick: () => { const d = draft(); if (d !== undefined) editor.value = JSON.stringify(d, null, 2); } }, t("Format")),
        h("button", { type: "button", class: "danger", onclick: reset }, t("Reset to default"))) : null,
      context.canWrite ? h("div", { class: "button-row" },
        h("label", { for: "funnel-template" }, t("Template")), templateSelect,
        h("button", { type: "button", onclick: useTemplate }, t("Use template"))) : null),
    simulator);
}

// The funnel's drop-off for the Stats tab: per node, how often users reached it and how often the flow stopped there.
export async function funnelStatsView(id, days) {
  const stats = await api.get(instancePath(id, `/funnel/stats?days=${days}`));
  const rows = Object.entries(stats.totals).sort((a, b) => b[1].reached - a[1].reached);
  return h("section", { class: "funnel-stats" }, h("h2", {}, t("Funnel: where users stop")),
    rows.length ? h("table", { class: "data" },
      h("thead", {}, h("tr", {}, [t("Node"), t("Reached"), t("Stopped there")].map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, rows.map(([node, counts]) => h("tr", {}, h("th", { scope: "row" }, h("code", {}, node)),
        h("td", {}, String(counts.reached)), h("td", {}, String(counts.left))))))
      : h("p", {}, t("No entries.")));
}
