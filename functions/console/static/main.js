// Boot, sign-in, the page frame (header, bot list, tenant navigation) and the hash router.
// Routes: #/overview, #/bots/new, #/bots/{id}/{tab}, #/keys, #/providers, #/settings.
import { api, ApiError, session } from "./api.js";
import { renderBotList, renderAddBot } from "./bots.js";
import { renderBot } from "./bot.js";
import { clear, h, notice } from "./dom.js";
import { describeError } from "./forms.js";
import { LANGUAGES, lang, setLang, t } from "./i18n.js";
import { renderKeys, renderOverview, renderProviders, renderSettings } from "./tenant.js";

const root = document.getElementById("app");
const state = { me: null, signInMessage: null };

session.onUnauthorized(() => {
  signOut(t("Your session has ended or the key was revoked. Sign in again."));
});

function signOut(message = null) {
  session.key = null;
  state.me = null;
  state.signInMessage = message;
  if (location.hash) history.replaceState(null, "", location.pathname);
  render();
}

function languageSwitch() {
  const select = h("select", { id: "language", onchange: (event) => { setLang(event.target.value); render(); } },
    Object.entries(LANGUAGES).map(([code, name]) => h("option", { value: code, selected: code === lang() || null }, name)));
  return h("div", { class: "language" }, h("label", { for: "language" }, t("Language")), select);
}

function renderSignIn() {
  const input = h("input", { id: "api-key", type: "password", autocomplete: "off", spellcheck: "false",
    required: true, "aria-describedby": "api-key-help" });
  const status = h("div", { "aria-live": "assertive" }, state.signInMessage ? notice("error", state.signInMessage) : null);
  const button = h("button", { type: "submit", class: "primary" }, t("Sign in"));
  const form = h("form", { class: "signin", onsubmit: async (event) => {
    event.preventDefault();
    const key = input.value.trim();
    if (!key) return;
    button.disabled = true;
    button.textContent = t("Signing in…");
    try {
      state.me = await api.getWith(key);
      session.key = key;
      state.signInMessage = null;
      input.value = "";
      if (!location.hash) location.hash = "#/overview";
      render();
    } catch (error) {
      const message = error instanceof ApiError && (error.status === 401 || error.status === 403)
        ? t("The API key was not accepted. Check it and try again.") : describeError(error);
      status.replaceChildren(notice("error", message));
      button.disabled = false;
      button.textContent = t("Sign in");
      input.focus();
    }
  } },
  h("h1", {}, t("Admin console")),
  h("p", { class: "subtitle" }, t("WhatsApp bots")),
  h("label", { for: "api-key" }, t("API key")),
  input,
  h("p", { id: "api-key-help", class: "help" }, t("Enter the API key you were given: it starts with wab.")),
  status,
  button);
  clear(root, h("header", { class: "topbar topbar-signin" }, languageSwitch()),
    h("main", { id: "main", class: "signin-page" }, form));
  input.focus();
}

function header() {
  const me = state.me;
  return h("header", { class: "topbar" },
    h("a", { class: "skip", href: "#main-content" }, t("Skip to content")),
    h("div", { class: "brand" }, t("Admin console")),
    h("dl", { class: "whoami" },
      h("div", {}, h("dt", {}, t("Tenant")), h("dd", { "data-testid": "tenant" }, me.tenant_id)),
      h("div", {}, h("dt", {}, t("Principal")), h("dd", { "data-testid": "principal" }, me.principal_id)),
      h("div", {}, h("dt", {}, t("Role")), h("dd", { "data-testid": "role" }, t(me.role)))),
    languageSwitch(),
    h("button", { type: "button", onclick: () => signOut() }, t("Sign out")));
}

function tenantNav(active) {
  const links = [["overview", t("Overview")], ["providers", t("LLM providers")], ["settings", t("Tenant settings")]];
  if (state.me.role === "admin") links.splice(1, 0, ["keys", t("API keys")]);
  return h("nav", { "aria-label": t("Tenant"), class: "tenant-nav" }, h("ul", {},
    links.map(([route, label]) => h("li", {}, h("a", { href: `#/${route}`, "aria-current": active === route ? "page" : null }, label)))));
}

function parseRoute() {
  const parts = location.hash.replace(/^#\/?/, "").split("/").filter(Boolean).map(decodeURIComponent);
  return parts.length ? parts : ["overview"];
}

async function render() {
  if (!session.key) {
    renderSignIn();
    return;
  }
  if (!state.me) {
    clear(root, h("p", { class: "loading" }, t("Loading…")));
    try {
      state.me = await api.get("/admin/me");
    } catch (error) {
      if (!(error instanceof ApiError && error.status === 401)) clear(root, notice("error", describeError(error)));
      return;
    }
  }
  document.documentElement.lang = lang();
  const [section, id, tab] = parseRoute();
  const content = h("main", { id: "main-content", class: "content", tabindex: "-1" });
  const sidebar = h("aside", { class: "sidebar", "aria-label": t("Bots") });
  clear(root, header(), h("div", { class: "layout" }, sidebar, h("div", { class: "page" }, tenantNav(section), content)));
  const context = { me: state.me, canWrite: state.me.role !== "guest", isAdmin: state.me.role === "admin",
    refreshList: () => renderBotList(sidebar, context, section === "bots" ? id : null) };
  context.refreshList();
  if (section === "bots" && id === "new") renderAddBot(content, context);
  else if (section === "bots" && id) renderBot(content, context, id, tab || "settings");
  else if (section === "keys") renderKeys(content, context);
  else if (section === "providers") renderProviders(content, context);
  else if (section === "settings") renderSettings(content, context);
  else renderOverview(content, context);
}

window.addEventListener("hashchange", () => render());
render();
