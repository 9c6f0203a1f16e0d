// A bot's Inbox tab: its conversations (most recent first), one conversation's messages with their
// statuses, take over / give back, a reply inside the 24-hour window, a template outside it.
import { api, instancePath } from "./api.js";
import { clear, formatTime, h, notice } from "./dom.js";
import { describeError, Form, submitting } from "./forms.js";
import { t } from "./i18n.js";

const SENDERS = { user: "User", bot: "Bot", llm: "AI", manager: "Manager", system: "Event" };
const EVENTS = {
  handoff: "Taken over by a person", release: "Given back to the bot", timeout: "Back to the bot: no manager reply in time",
  held: "Planned bot replies dropped: a person took over",
};

function conversationPath(id, user, suffix = "") {
  return instancePath(id, `/conversations/${encodeURIComponent(user)}${suffix}`);
}

export function renderInboxTab(panel, context, id) {
  const filter = h("select", { id: "inbox-filter", onchange: () => load(false) },
    h("option", { value: "" }, t("All conversations")), h("option", { value: "human" }, t("Handled by a person")),
    h("option", { value: "bot" }, t("Handled by the bot")));
  const rows = h("tbody");
  const table = h("table", { class: "data inbox" }, h("thead", {}, h("tr", {},
    [t("User"), t("Last message"), t("Last activity"), t("24-hour window"), t("Handled by"), t("Unread"), ""]
      .map((c) => h("th", { scope: "col" }, c)))), rows);
  const status = h("div", { "aria-live": "polite" });
  const more = h("button", { type: "button", hidden: true, onclick: () => load(true) }, t("More"));
  const detail = h("section", { class: "conversation", "aria-live": "polite" });
  let next = null;
  clear(panel, h("div", { class: "card" },
    h("div", { class: "button-row" }, h("label", { for: "inbox-filter" }, t("Show")), filter,
      h("button", { type: "button", onclick: () => load(false) }, t("Refresh"))),
    status, table, more), detail);

  async function load(append) {
    const query = new URLSearchParams({ limit: "20" });
    if (filter.value) query.set("status", filter.value);
    if (append && next) query.set("cursor", next);
    try {
      const page = await api.get(instancePath(id, `/conversations?${query}`));
      if (!append) rows.replaceChildren();
      rows.append(...page.items.map(row));
      next = page.next;
      more.hidden = !next;
      status.replaceChildren(rows.children.length ? "" : notice("info", t("No conversations yet.")));
    } catch (error) {
      status.replaceChildren(notice("error", describeError(error)));
    }
  }

  function row(c) {
    const window = c.window_open ? t("open until {time}", { time: formatTime(c.window_closes_at) }) : t("closed");
    return h("tr", { dataset: { user: c.user } },
      h("th", { scope: "row" }, c.profile_name ? `${c.profile_name} (${c.phone || c.user})` : c.phone || c.user),
      h("td", {}, c.preview || "—"), h("td", {}, formatTime(c.last_inbound_at)), h("td", {}, window),
      h("td", {}, c.handoff === "human" ? t("a person") : t("the bot")), h("td", {}, String(c.unread)),
      h("td", {}, h("button", { type: "button", onclick: () => openConversation(c.user) }, t("Open"))));
  }

  async function openConversation(user) {
    clear(detail, h("p", { class: "loading" }, t("Loading…")));
    let conversation;
    let page;
    try {
      [conversation, page] = await Promise.all([findConversation(user), api.get(conversationPath(id, user, "/messages?limit=100"))]);
    } catch (error) {
      clear(detail, notice("error", describeError(error)));
      return;
    }
    const title = conversation && conversation.profile_name ? `${conversation.profile_name} (${conversation.phone || user})` : user;
    const state = h("p", { class: "conversation-state" });
    const actions = h("div", { class: "button-row" });
    const actionStatus = h("div", { "aria-live": "polite" });
    const showState = (c) => {
      state.textContent = c.handoff === "human"
        ? t("A person handles this conversation; the bot is silent until {time}.", { time: formatTime(c.human_until) })
        : t("The bot answers this conversation.");
      const take = h("button", { type: "button", onclick: () => act("handoff") }, t("Take over"));
      const give = h("button", { type: "button", onclick: () => act("release") }, t("Give back to the bot"));
      actions.replaceChildren(context.canWrite ? (c.handoff === "human" ? give : take) : "");
    };
    async function act(action) {
      try {
        showState(await api.post(conversationPath(id, user, `/${action}`), {}));
        actionStatus.replaceChildren();
        await load(false);
      } catch (error) {
        actionStatus.replaceChildren(notice("error", describeError(error)));
      }
    }
    if (conversation) showState(conversation);
    const failure = conversation && conversation.last_failure
      ? notice("error", t("Last message failed: {code} {title}", { code: conversation.last_failure.code ?? "", title: conversation.last_failure.title }))
      : null;
    const log = h("ol", { class: "messages" }, page.items.map(message));
    const compose = context.canWrite && conversation
      ? (conversation.window_open ? replyForm(user) : await templateForm(user)) : null;
    clear(detail, h("div", { class: "card" }, h("h2", {}, title), state, actions, actionStatus, failure,
      page.next ? h("p", { class: "help" }, t("Older messages are not shown.")) : null, log, compose));
  }

  async function findConversation(user) {
    // The list row holds the summary; a fresh read keeps the window and hand-off state current.
    let cursor = null;
    do {
      const query = new URLSearchParams({ limit: "100" });
      if (cursor) query.set("cursor", cursor);
      const found = await api.get(instancePath(id, `/conversations?${query}`));
      const match = found.items.find((c) => c.user === user);
      if (match) return match;
      cursor = found.next;
    } while (cursor);
    return null;
  }

  function message(m) {
    const who = m.sender === "manager" && m.actor ? `${t("Manager")} (${m.actor})` : t(SENDERS[m.sender] || m.sender);
    let text = m.text || "";
    if (m.direction === "event") text = t(EVENTS[m.type] || m.type) + (m.actor && m.actor !== "user" ? ` (${m.actor})` : "");
    else if (m.reply_title) text = `${t("Tapped")}: ${m.reply_title}`;
    else if (m.template) text = `${t("Template")} ${m.template}${text ? `: ${text}` : ""}`;
    else if (m.media_type) text = `[${m.media_type}] ${text}`.trim();
    else if (!text) text = `[${m.type}]`;
    const state = m.status === "failed" && m.error ? `${t("failed")}: ${m.error.code ?? ""} ${m.error.title}` : m.status ? t(m.status) : "";
    return h("li", { class: `message message-${m.direction} from-${m.sender}` },
      h("div", { class: "message-meta" }, who, " · ", formatTime(m.at), state ? ` · ${state}` : ""),
      h("div", { class: "message-text" }, text),
      m.options ? h("div", { class: "message-options" }, m.options.join(" | ")) : null);
  }

  function replyForm(user) {
    const form = new Form([{ path: "text", label: t("Reply"), kind: "textarea", rows: 3, emptyAs: "" }]);
    const send = h("button", { type: "submit", class: "primary" }, t("Send"));
    return h("form", { class: "compose", novalidate: true, onsubmit: async (event) => {
      event.preventDefault();
      const sent = await submitting(send, form, () => api.post(instancePath(id, "/send"), { user, ...form.values() }));
      if (!sent) return;
      form.fields[0].input.value = "";
      form.showSuccess(t("Queued for sending. The bot stays silent while you handle this conversation."));
      await load(false);
    } }, form.elements, form.status, send);
  }

  async function templateForm(user) {
    let templates;
    try {
      templates = (await api.get(instancePath(id, "/templates"))).items;
    } catch (error) {
      return notice("error", describeError(error));
    }
    const closed = notice("info", t("The 24-hour window is closed: only an approved template can reach this user."));
    if (!templates.length) return h("div", {}, closed, notice("info", t("No approved templates.")));
    const choice = h("select", { id: "template-choice", onchange: () => build() },
      templates.map((tpl, index) => h("option", { value: String(index) }, `${tpl.name} (${tpl.language})`)));
    const fields = h("div");
    const preview = h("p", { class: "help" });
    const send = h("button", { type: "submit", class: "primary" }, t("Send template"));
    let form;
    function build() {
      const tpl = templates[Number(choice.value)];
      const specs = [];
      for (let i = 0; i < tpl.parameters.header; i += 1) specs.push({ path: `header.${i}`, label: t("Header value {n}", { n: i + 1 }), kind: "text" });
      for (let i = 0; i < tpl.parameters.body; i += 1) specs.push({ path: `body.${i}`, label: t("Body value {n}", { n: i + 1 }), kind: "text" });
      tpl.parameters.buttons.forEach((count, b) => {
        for (let i = 0; i < count; i += 1) specs.push({ path: `buttons.${b}.${i}`, label: t("Button {b} value {n}", { b: b + 1, n: i + 1 }), kind: "text" });
      });
      form = new Form(specs);
      preview.textContent = tpl.text;
      fields.replaceChildren(...form.elements, form.status);
    }
    build();
    return h("form", { class: "compose", novalidate: true, onsubmit: async (event) => {
      event.preventDefault();
      const tpl = templates[Number(choice.value)];
      const value = (path) => form.fields.find((f) => f.spec.path === path).input.value;
      const range = (n, make) => Array.from({ length: n }, (_, i) => make(i));
      const body = {
        name: tpl.name, language: tpl.language,
        header: range(tpl.parameters.header, (i) => value(`header.${i}`)),
        body: range(tpl.parameters.body, (i) => value(`body.${i}`)),
        buttons: tpl.parameters.buttons.map((count, b) => range(count, (i) => value(`buttons.${b}.${i}`))),
      };
      const sent = await submitting(send, form, () => api.post(conversationPath(id, user, "/template"), body));
      if (!sent) return;
      form.showSuccess(t("Template queued for sending."));
      await load(false);
    } }, closed, h("div", { class: "field" }, h("label", { for: "template-choice" }, t("Template")), choice), preview,
    fields, send);
  }

  load(false);
}
