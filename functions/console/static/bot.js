// A bot's page: tabs (WAI-ARIA tabs pattern) for its settings, funnel, logs, stats, health and status.
import { api, instancePath } from "./api.js";
import { renderStatsChart } from "./chart.js";
import { confirmDialog } from "./dialog.js";
import { clear, formatTime, h, notice } from "./dom.js";
import { describeError, Form, submitting } from "./forms.js";
import { funnelStatsView, renderFunnelTab } from "./funnel.js";
import { t } from "./i18n.js";
import { renderInboxTab } from "./inbox.js";

export function backendOptions(providers) {
  return [["vllm", "vllm"], ["gemini", "gemini"], ...providers.map((p) => [p.backend, `${p.backend} (${p.name})`])];
}

export function aiFields(backends) {
  return [
    { path: "llm_backend", label: t("LLM Backend"), kind: "select", options: backends },
    { path: "llm_model", label: t("Model"), kind: "text" },
    { path: "system_prompt", label: t("System Prompt"), kind: "textarea", rows: 8, emptyAs: "" },
    { path: "llm_params.temperature", label: t("Temperature"), kind: "number", step: "0.1", min: 0, max: 2 },
    { path: "llm_params.max_tokens", label: t("Max Tokens"), kind: "number", step: "1", min: 1 },
    { path: "llm_params.top_p", label: t("Top P"), kind: "number", step: "0.05", min: 0, max: 1 },
    { path: "llm_history_turns", label: t("History Turns"), kind: "number", step: "1", min: 0, max: 50 },
    { path: "llm_fallback_message", label: t("Fallback Message"), kind: "textarea", rows: 2 },
    { path: "llm_debounce_seconds", label: t("Burst Quiet Window (s)"), kind: "number", step: "0.5", min: 0, max: 10,
      help: t("Messages sent within this many seconds of each other get one AI answer. 0 turns it off.") },
    { path: "read_receipts", label: t("Read Receipts"), kind: "checkbox" },
    { path: "typing_indicator", label: t("Typing Indicator"), kind: "checkbox",
      help: t("Shows \"typing…\" while the AI answers (needs read receipts).") },
  ];
}

export function sttOptions(providers) {
  const usable = providers.filter((p) => p.kind === "openai" || p.kind === "gemini");
  return [["openai", "openai"], ["gemini", "gemini"], ...usable.map((p) => [p.backend, `${p.backend} (${p.name})`])];
}

export function voiceInFields(backends) {
  return [
    { path: "stt_enabled", label: t("Transcribe Voice Messages"), kind: "checkbox",
      help: t("Off: a voice message gets \"please type\".") },
    { path: "stt_backend", label: t("Speech-to-text Backend"), kind: "select", options: backends,
      help: t("openai: the tenant's speech-to-text server (tenant settings) or the platform's.") },
  ];
}

const SETTINGS_TABS = {
  settings: () => [
    { path: "name", label: t("Name"), kind: "text", emptyAs: "" },
    { path: "phone_number_id", label: t("Phone Number ID"), kind: "text", inputmode: "numeric", emptyAs: "" },
    { path: "waba_id", label: t("WABA ID"), kind: "text", inputmode: "numeric" },
    { path: "access_token", label: t("Access Token"), kind: "secret" },
    { path: "verify_token", label: t("Verify Token"), kind: "secret" },
    { path: "app_secret", label: t("App Secret"), kind: "secret" },
    { path: "app_token", label: t("App Token"), kind: "secret" },
    { path: "enabled", label: t("Enabled"), kind: "checkbox" },
    { path: "webhook_url", label: t("Webhook URL"), kind: "readonly" },
    { path: "notify_url", label: t("Notification URL"), kind: "text", inputmode: "url",
      help: t("https address that receives signed health notifications (admins only).") },
  ],
  tts: () => [
    { path: "tts_enabled", label: t("TTS Enabled"), kind: "checkbox" },
    { path: "tts_engine", label: t("Engine"), kind: "select",
      options: [["", t("Default")], ["xtts", "xtts"], ["piper", "piper"], ["openvoice", "openvoice"]] },
    { path: "tts_voice", label: t("Voice"), kind: "text" },
    { path: "tts_preset", label: t("Preset"), kind: "text" },
  ],
  access: () => [
    { path: "allowed_phones", label: t("Allowed Phones"), kind: "lines", rows: 6,
      help: t("One phone number or user id per line. An empty list lets everyone in.") },
    { path: "blocked_phones", label: t("Blocked Phones"), kind: "lines", rows: 6, help: t("One phone number or user id per line.") },
  ],
  rate: () => [
    { path: "rate_limit_count", label: t("Rate Limit Count"), kind: "number", step: "1", min: 0,
      help: t("Free-text questions to the AI per user in this many hours.") },
    { path: "rate_limit_hours", label: t("Rate Limit Hours"), kind: "number", step: "0.5", min: 0 },
  ],
};

const TABS = [
  ["settings", "Settings"], ["ai", "AI"], ["tts", "TTS"], ["voice", "Voice in"], ["access", "Access"],
  ["rate", "Rate limiting"], ["funnel", "Funnel"], ["inbox", "Inbox"], ["logs", "Logs"], ["stats", "Stats"],
  ["health", "Health"], ["status", "Status"],
];

export async function renderBot(container, context, id, initialTab) {
  clear(container, h("p", { class: "loading" }, t("Loading…")));
  let bot;
  let providers;
  try {
    [bot, providers] = await Promise.all([api.get(instancePath(id)), api.get("/admin/llm/providers")]);
  } catch (error) {
    clear(container, notice("error", describeError(error)));
    return;
  }
  const title = h("h1", {}, bot.name);
  const tablist = h("div", { role: "tablist", "aria-label": t("Bot navigation"), class: "tabs" });
  const panel = h("div", { role: "tabpanel", class: "tabpanel", tabindex: "0" });
  const tabs = TABS.map(([key, label]) => h("button", {
    type: "button", role: "tab", id: `tab-${key}`, "aria-controls": "bot-tabpanel", dataset: { tab: key },
    onclick: () => select(key, true), onkeydown: onTabKey,
  }, t(label)));
  panel.id = "bot-tabpanel";
  tablist.append(...tabs);
  const readOnlyNote = context.canWrite ? null : notice("info", t("Read-only: your role can view but not change."));
  clear(container, title, readOnlyNote, tablist, panel);

  function onTabKey(event) {
    const index = tabs.indexOf(event.currentTarget);
    const moves = { ArrowRight: index + 1, ArrowLeft: index - 1, Home: 0, End: tabs.length - 1 };
    if (!(event.key in moves)) return;
    event.preventDefault();
    const next = tabs[(moves[event.key] + tabs.length) % tabs.length];
    next.focus();
    select(next.dataset.tab, true);
  }

  function select(key, fromUser) {
    if (!TABS.some(([name]) => name === key)) key = "settings";
    for (const tab of tabs) {
      const selected = tab.dataset.tab === key;
      tab.setAttribute("aria-selected", selected ? "true" : "false");
      tab.tabIndex = selected ? 0 : -1;
    }
    panel.setAttribute("aria-labelledby", `tab-${key}`);
    if (fromUser) history.replaceState(null, "", `#/bots/${encodeURIComponent(id)}/${key}`);
    const renderers = { ai: aiTab, voice: voiceTab, funnel: funnelTab, inbox: () => renderInboxTab(panel, context, id),
      logs: logsTab, stats: statsTab, health: healthTab, status: statusTab };
    (renderers[key] || settingsTab)(key);
  }

  function formTab(specs) {
    const form = new Form(specs, { readOnly: !context.canWrite });
    form.fill(bot);
    const save = h("button", { type: "submit", class: "primary" }, t("Save"));
    clear(panel, h("form", { class: "card", novalidate: true, onsubmit: async (event) => {
      event.preventDefault();
      const updated = await submitting(save, form, () => api.put(instancePath(id), form.values()));
      if (!updated) return;
      bot = updated;
      title.textContent = bot.name;
      form.fill(bot);
      form.showSuccess(t("Saved."));
      // A generated notification secret is answered this once: the receiver needs it to verify.
      if (updated.generated_notify_secret) {
        panel.append(h("section", { class: "card" }, h("h2", {}, t("Notification secret, shown only now")),
          h("code", { "data-testid": "notify-secret" }, updated.generated_notify_secret)));
      }
      context.refreshList();
    } }, form.elements, form.status, context.canWrite ? save : null));
  }

  function settingsTab(key) {
    formTab(SETTINGS_TABS[key] ? SETTINGS_TABS[key]() : SETTINGS_TABS.settings());
  }

  function aiTab() {
    formTab(aiFields(backendOptions(providers.items)));
  }

  function voiceTab() {
    formTab(voiceInFields(sttOptions(providers.items)));
  }

  function funnelTab() {
    renderFunnelTab(panel, context, id);
  }

  async function logsTab() {
    const body = h("div", { "aria-live": "polite" });
    const refresh = h("button", { type: "button", onclick: load }, t("Refresh"));
    clear(panel, h("div", { class: "card" }, h("div", { class: "button-row" }, refresh), body));
    async function load() {
      try {
        const logs = await api.get(instancePath(id, "/logs?limit=100"));
        clear(body, logs.items.length ? h("table", { class: "data" },
          h("thead", {}, h("tr", {}, [t("Time"), t("Kind"), t("Summary"), t("Actor")].map((c) => h("th", { scope: "col" }, c)))),
          h("tbody", {}, logs.items.map((entry) => h("tr", {},
            h("td", {}, formatTime(entry.at)), h("td", {}, entry.kind), h("td", {}, entry.summary), h("td", {}, entry.actor || "—")))))
          : h("p", {}, t("No entries.")));
      } catch (error) {
        clear(body, notice("error", describeError(error)));
      }
    }
    await load();
  }

  async function statsTab() {
    const period = h("select", { id: "stats-period", onchange: load },
      h("option", { value: "7" }, t("Last 7 days")), h("option", { value: "30" }, t("Last 30 days")));
    const body = h("div", { "aria-live": "polite" });
    const status = h("div", { "aria-live": "polite" });
    const reset = h("button", { type: "button", class: "danger", onclick: async () => {
      if (!(await confirmDialog(t("Reset stats"), t("Reset all counters of this bot?"), t("Reset stats")))) return;
      try {
        await api.del(instancePath(id, "/stats"));
        status.replaceChildren(notice("success", t("Stats reset.")));
        await load();
      } catch (error) {
        status.replaceChildren(notice("error", describeError(error)));
      }
    } }, t("Reset stats"));
    clear(panel, h("div", { class: "card" },
      h("div", { class: "button-row" }, h("label", { for: "stats-period" }, t("Period")), period,
        h("button", { type: "button", onclick: () => load() }, t("Refresh")), context.canWrite ? reset : null),
      status, body));
    async function load() {
      try {
        const [stats, funnelStats] = await Promise.all([api.get(instancePath(id, `/stats?days=${period.value}`)),
          funnelStatsView(id, period.value)]);
        clear(body, statsView(stats, Number(period.value)), funnelStats);
      } catch (error) {
        clear(body, notice("error", describeError(error)));
      }
    }
    await load();
  }

  async function healthTab() {
    clear(panel, h("p", { class: "loading" }, t("Loading…")));
    try {
      const health = await api.get(instancePath(id, "/health"));
      clear(panel, healthView(health));
    } catch (error) {
      clear(panel, notice("error", describeError(error)));
    }
  }

  async function statusTab() {
    clear(panel, h("p", { class: "loading" }, t("Loading…")));
    try {
      const s = await api.get(instancePath(id, "/status"));
      const error = s.last_error ? `${s.last_error.code ?? ""} ${s.last_error.message ?? ""} (${formatTime(s.last_error.at)})` : t("None");
      const secrets = Object.entries(s.secrets_configured).map(([name, set]) => `${name}: ${set ? t("yes") : t("no")}`).join(", ");
      const today = Object.entries(s.today).map(([name, value]) => `${name} ${value}`).join(", ") || "—";
      const rows = [
        [t("Running"), s.running ? t("yes") : t("no")], [t("Enabled"), s.enabled ? t("yes") : t("no")],
        [t("Config version"), s.config_version], [t("Last inbound"), formatTime(s.last_inbound_at)],
        [t("Last outbound"), formatTime(s.last_outbound_at)], [t("Last error"), error],
        [t("Secrets set"), secrets], [t("Today"), today],
      ];
      clear(panel, h("div", { class: "card" }, h("dl", { class: "status-list" },
        rows.map(([name, value]) => h("div", {}, h("dt", {}, name), h("dd", {}, String(value)))))));
    } catch (error) {
      clear(panel, notice("error", describeError(error)));
    }
  }

  // The list's lifecycle buttons change this bot too: keep the open page current.
  const onChanged = async (event) => {
    if (!container.isConnected) {
      document.removeEventListener("bot-changed", onChanged);
      return;
    }
    if (event.detail.id !== id) return;
    bot = await api.get(instancePath(id)).catch(() => bot);
    const current = tabs.find((tab) => tab.getAttribute("aria-selected") === "true");
    const live = current && (current.dataset.tab === "status" || current.dataset.tab === "health");
    if (live) select(current.dataset.tab, false);  // tabs that show the bot's current state
  };
  document.addEventListener("bot-changed", onChanged);
  select(initialTab, false);
}

export const COUNTER_COLUMNS = [
  ["inbound", "Messages in"], ["outbound", "Messages out"], ["unique_users", "Unique users"],
  ["llm_calls", "LLM calls"], ["voice_replies", "Voice replies"], ["errors", "Errors"],
];

// Every day of the period, oldest first, days without traffic as zeros.
function filledDays(stats, days) {
  const byDate = new Map(stats.days.map((day) => [day.date, day.counters]));
  const result = [];
  const today = new Date();
  for (let back = days - 1; back >= 0; back -= 1) {
    const date = new Date(Date.UTC(today.getUTCFullYear(), today.getUTCMonth(), today.getUTCDate() - back)).toISOString().slice(0, 10);
    result.push({ date, counters: byDate.get(date) || {} });
  }
  return result;
}

export function statsView(stats, days) {
  const rows = filledDays(stats, days);
  return h("div", {},
    renderStatsChart(rows, [["inbound", t("Messages in")], ["outbound", t("Messages out")]], t("Messages per day")),
    h("table", { class: "data stats-table" },
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, t("Date")), COUNTER_COLUMNS.map(([, label]) => h("th", { scope: "col" }, t(label))))),
      h("tbody", {}, rows.slice().reverse().map((row) => h("tr", {}, h("th", { scope: "row" }, row.date),
        COUNTER_COLUMNS.map(([name]) => h("td", {}, String(row.counters[name] || 0)))))),
      h("tfoot", {}, h("tr", {}, h("th", { scope: "row" }, t("Total")),
        COUNTER_COLUMNS.map(([name]) => h("td", {}, String(stats.totals[name] || 0)))))));
}

// One word (ok, warning, failing) with the reason, then what the last check and Meta's account
// webhooks said; values Meta sends (quality GREEN, tier TIER_1K, ...) are shown as they are.
export function healthView(health) {
  const shown = (value) => (value === null || value === undefined || value === "" ? "—" : String(value));
  const error = health.last_error ? `${health.last_error.code ?? ""} ${health.last_error.message} (${formatTime(health.last_error.at)})` : t("None");
  const rows = [
    [t("Token"), `${t(health.token.status)}${health.token.checked_at ? ` (${t("checked")} ${formatTime(health.token.checked_at)})` : ""}`],
    [t("Token expires"), health.token.expires_at ? formatTime(health.token.expires_at) : t("Never")],
    [t("Sends paused"), health.sends_paused ? t("yes") : t("no")],
    [t("Quality rating"), shown(health.quality_rating)], [t("Messaging limit"), shown(health.messaging_limit_tier)],
    [t("Name status"), shown(health.name_status)], [t("Phone status"), shown(health.phone_status)],
    [t("Code verification"), shown(health.code_verification_status)], [t("Throughput"), shown(health.throughput)],
    [t("Display number"), shown(health.display_phone_number)], [t("Verified name"), shown(health.verified_name)],
    [t("Account restricted"), health.account_restricted ? t("yes") : t("no")], [t("Last error"), error],
  ];
  return h("div", {},
    h("div", { class: "card" },
      h("p", { class: `health health-${health.status}`, "data-testid": "health-status" },
        h("strong", {}, t(health.status)), ` — ${health.reason}`),
      h("dl", { class: "status-list" }, rows.map(([name, value]) => h("div", {}, h("dt", {}, name), h("dd", {}, value))))),
    h("section", { class: "card" }, h("h2", {}, t("Template status changes")),
      health.template_changes.length ? h("table", { class: "data" },
        h("thead", {}, h("tr", {}, [t("Date"), t("Template"), t("Language"), t("Status"), t("Reason")].map((c) => h("th", { scope: "col" }, c)))),
        h("tbody", {}, health.template_changes.map((c) => h("tr", {}, [formatTime(c.at), shown(c.name), shown(c.language), c.event, shown(c.reason)]
          .map((value) => h("td", {}, value)))))) : h("p", {}, t("None"))),
    h("section", { class: "card" }, h("h2", {}, t("Account events")),
      health.account_events.length ? h("table", { class: "data" },
        h("thead", {}, h("tr", {}, [t("Date"), t("Field"), t("Event"), t("Detail")].map((c) => h("th", { scope: "col" }, c)))),
        h("tbody", {}, health.account_events.map((e) => h("tr", {}, [formatTime(e.at), e.field, e.event, shown(e.detail)]
          .map((value) => h("td", {}, value)))))) : h("p", {}, t("None"))));
}
