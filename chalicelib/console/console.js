// civicchat agents' console: a vanilla ES module, no build step. It talks only to /console/api
// (see docs and chalicelib/http/console_api.py) and keeps the ID and refresh tokens in
// sessionStorage, so closing the tab signs the agent out.

// The page names the API's address: deployed, it sits under API Gateway's stage (/api/console/api).
const API = document.querySelector('meta[name="console-api"]')?.content || "/console/api";
const LANGUAGES = ["pt", "es", "en", "ar"];
const RTL = new Set(["ar"]);
const LOCALES = { pt: "pt-PT", es: "es-ES", en: "en-GB", ar: "ar-u-nu-latn" };
const POLL_MS = 5000;
const DETAIL_EVERY = 6; // polls: the open conversation's header (SLA, window) is re-read every 30 s
// A hidden tab does not poll, but one request a minute keeps the agent "seen": the server sets
// agents unseen for 3 minutes away and hands their conversations to others.
const HEARTBEAT_MS = 60_000;
// Inbound messages carry WhatsApp's time, replies and notes the server's: a resident's message
// may be stored after a newer reply, so each poll asks again for the last 2 minutes.
const LATE_MS = 2 * 60_000;
const STATUS_WATCH_MS = 10 * 60_000; // sent/delivered messages are re-read for read receipts this long
// Base64 in a JSON body must stay under Lambda's 6 MB request limit.
const MAX_UPLOAD = 4 * 1024 * 1024;
const TOKENS_KEY = "civicchat.console.tokens";
const LANGUAGE_KEY = "civicchat.console.language";
const SEEN_KEY = "civicchat.console.seen";
const SHORTCUTS_KEY = "civicchat.console.shortcuts";
const LEAVING = new Set(["queued", "sending"]);
const SETTLING = new Set(["sent", "delivered"]);
const OPEN_STATUSES = new Set(["queued", "assigned", "snoozed"]);
const TAG = /^[a-z0-9_-]{1,32}$/;
const BROADCAST_POLL_MS = 3000; // a broadcast being sent: its counters are re-read this often
const PREVIEW_DELAY_MS = 400; // the audience preview waits for the supervisor to stop typing
const LIVE_BROADCASTS = new Set(["scheduled", "running"]);
const PROGRESS_KEYS = ["queued", "sent", "delivered", "read", "failed", "skipped"];

const state = {
  strings: {},
  lang: "en",
  tokens: null,
  me: null,
  page: "inbox",
  view: "mine",
  team: null,
  inbox: { items: [], cursor: null, request: 0, loadedOnce: false, known: new Set(), baseline: false },
  search: { query: "", items: null, request: 0 },
  open: null, // {id, detail, messages: Map, cursor, newest, polls}
  mode: "reply",
  attachment: null,
  quick: { items: [], index: 0, token: null },
  pollTimer: null,
  heartbeat: null,
  polling: false,
  shortcuts: true, // single-key shortcuts (WCAG 2.1.4: they can be turned off)
  seen: {},
  mediaCache: new Map(),
  pendingChallenge: null,
  report: null,
  // Broadcasts: the list, the form's options, draft and preview, the one shown; `timer` polls
  // it; `pending` is the body the confirmation dialog sends.
  broadcasts: {
    view: "list",
    items: null,
    options: null,
    detail: null,
    id: null,
    timer: null,
    preview: null,
    previewRequest: 0,
    previewTimer: null,
    draft: null,
    pending: null,
  },
  audit: { events: [], next: null, loaded: false, request: 0 },
  erasing: null, // {phone, conversation, done}: the erase dialog's resident
};

// ---------------------------------------------------------------- small helpers

const $ = (id) => document.getElementById(id);

function h(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (value === true) node.setAttribute(key, "");
    else node.setAttribute(key, String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "text") node.textContent = value;
    else if (value !== undefined && value !== null) node.setAttribute(key, String(value));
  }
  for (const child of children.flat()) if (child) node.append(child);
  return node;
}

const ICONS = {
  clip: "M16.5 6.5l-7.8 7.8a2 2 0 0 0 2.8 2.8l7.8-7.8a4 4 0 0 0-5.7-5.7L5.8 11.4a6 6 0 0 0 8.5 8.5L20 14.2",
  doc: "M6 2h8l4 4v16H6z M14 2v4h4 M9 13h6 M9 17h6",
  pin: "M12 22s7-6.2 7-12a7 7 0 0 0-14 0c0 5.8 7 12 7 12z M12 12.5a2.5 2.5 0 1 0 0-5 2.5 2.5 0 0 0 0 5z",
  clock: "M12 22a10 10 0 1 0 0-20 10 10 0 0 0 0 20z M12 6v6l4 2",
  moon: "M21 12.8A9 9 0 1 1 11.2 3a7 7 0 0 0 9.8 9.8z",
  alert: "M12 3l10 18H2z M12 10v4 M12 17.5v.5",
};

function icon(name) {
  return svg(
    "svg",
    { class: "icon", viewBox: "0 0 24 24", "aria-hidden": "true", focusable: "false" },
    svg("path", { d: ICONS[name] }),
  );
}

function t(key, vars = {}) {
  const table = state.strings[state.lang] || {};
  let text = table[key] ?? state.strings.en?.[key] ?? key;
  for (const [name, value] of Object.entries(vars)) text = text.replaceAll(`{${name}}`, value);
  return text;
}

function has(key) {
  return key in (state.strings[state.lang] || {}) || key in (state.strings.en || {});
}

function plural(key, count, vars = {}) {
  // Labels with a number: `key_one`, `key_other` (and Arabic's zero, two, few, many), chosen by
  // the language's plural rules; `key_other` when the language has no label for the form.
  let form = "other";
  try {
    form = new Intl.PluralRules(locale()).select(count);
  } catch {
    /* an old browser: "other" */
  }
  const table = state.strings[state.lang] || {};
  const chosen = `${key}_${form}` in table ? `${key}_${form}` : `${key}_other`;
  return t(chosen, { count: formatNumber(count), ...vars });
}

function locale() {
  return LOCALES[state.lang] || "en-GB";
}

function parseTime(value) {
  return value ? new Date(value) : null;
}

function formatTime(value) {
  const date = parseTime(value);
  return date ? date.toLocaleTimeString(locale(), { hour: "2-digit", minute: "2-digit" }) : "";
}

function formatDate(value, options = { day: "numeric", month: "short", year: "numeric" }) {
  const date = value instanceof Date ? value : parseTime(value);
  return date ? date.toLocaleDateString(locale(), options) : "";
}

function formatDay(isoDay, options = { day: "numeric", month: "short", year: "numeric" }) {
  // A local calendar date (YYYY-MM-DD) shown as itself, whatever the browser's time zone.
  if (!isoDay) return "";
  const [year, month, day] = isoDay.split("-").map(Number);
  return new Date(Date.UTC(year, month - 1, day)).toLocaleDateString(locale(), {
    ...options,
    timeZone: "UTC",
  });
}

function formatDateTime(value) {
  const date = parseTime(value);
  return date
    ? date.toLocaleString(locale(), { dateStyle: "medium", timeStyle: "short" })
    : "";
}

function formatShortWhen(value) {
  // Inbox rows: the time today, the weekday this week, the date otherwise.
  const date = parseTime(value);
  if (!date) return "";
  const now = new Date();
  if (date.toDateString() === now.toDateString()) return formatTime(value);
  if (now - date < 6 * 86400_000) return date.toLocaleDateString(locale(), { weekday: "short" });
  return date.toLocaleDateString(locale(), { day: "numeric", month: "short" });
}

function unit(value, name) {
  return new Intl.NumberFormat(locale(), {
    style: "unit",
    unit: name,
    unitDisplay: "short",
    maximumFractionDigits: 0,
  }).format(value);
}

function durationCount(seconds) {
  // The number a duration's words agree with ("falta 1 min", "faltam 5 min"); two units
  // ("1 h 30 min") read as plural.
  const total = Math.max(0, Math.round(Math.abs(seconds)));
  if (total < 60) return 1;
  const minutes = Math.floor(total / 60) % 60;
  const hours = Math.floor(total / 3600) % 24;
  const days = Math.floor(total / 86400);
  if (days > 0) return hours ? 2 : days;
  if (hours > 0) return minutes ? 2 : hours;
  return minutes;
}

function formatDuration(seconds) {
  const total = Math.max(0, Math.round(Math.abs(seconds)));
  if (total < 60) return `< ${unit(1, "minute")}`;
  const minutes = Math.floor(total / 60) % 60;
  const hours = Math.floor(total / 3600) % 24;
  const days = Math.floor(total / 86400);
  if (days > 0) return hours ? `${unit(days, "day")} ${unit(hours, "hour")}` : unit(days, "day");
  if (hours > 0) return minutes ? `${unit(hours, "hour")} ${unit(minutes, "minute")}` : unit(hours, "hour");
  return unit(minutes, "minute");
}

function formatNumber(value, digits = 0) {
  if (value === null || value === undefined) return "—";
  return new Intl.NumberFormat(locale(), { maximumFractionDigits: digits }).format(value);
}

function formatPercent(value) {
  // The API's percentages are 0–100; each language writes them its own way ("12,5 %", "12.5%").
  if (value === null || value === undefined) return "—";
  return new Intl.NumberFormat(locale(), { style: "percent", maximumFractionDigits: 1 }).format(value / 100);
}

function isoWithOffset(date) {
  const pad = (n) => String(Math.abs(n)).padStart(2, "0");
  const offset = -date.getTimezoneOffset();
  const sign = offset >= 0 ? "+" : "-";
  return (
    `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}` +
    `T${pad(date.getHours())}:${pad(date.getMinutes())}:00` +
    `${sign}${pad(Math.trunc(offset / 60))}:${pad(offset % 60)}`
  );
}

function localInputValue(date) {
  const pad = (n) => String(n).padStart(2, "0");
  return (
    `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}` +
    `T${pad(date.getHours())}:${pad(date.getMinutes())}`
  );
}

function isoDate(date) {
  const pad = (n) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
}

function languageName(code) {
  if (!code) return "—";
  try {
    return new Intl.DisplayNames([locale()], { type: "language" }).of(code) || code;
  } catch {
    return code;
  }
}

function teamName(id) {
  if (!id) return "—";
  return state.me?.teams.find((team) => team.id === id)?.name || id;
}

function agentName(id) {
  if (!id) return "";
  if (id === "bot") return t("sender_bot");
  if (id === "system") return t("sender_system");
  if (id === "reminders" || id === "notifications") return t("sender_back_office");
  return state.me?.agents.find((agent) => agent.id === id)?.name || id;
}

function displayName(row) {
  return row.name || (row.phone ? `+${row.phone}` : null) || row.resident_key || t("unknown_resident");
}

function phoneNode(digits) {
  // Phone numbers read left to right in every language.
  return h("span", { dir: "ltr", class: "phone" }, `+${digits}`);
}

function isTyping(target) {
  const tag = target?.tagName;
  return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || target?.isContentEditable;
}

const MAX_TOASTS = 3;

function toast(message, kind = "info") {
  const box = $("toasts");
  while (box.children.length >= MAX_TOASTS) box.firstElementChild.remove();
  const item = h("div", { class: `toast toast-${kind}`, role: kind === "error" ? "alert" : null }, message);
  box.append(item);
  setTimeout(() => item.remove(), kind === "error" ? 8000 : 4000);
}

function announce(message) {
  // What the screen already shows (a sent reply, a new assignee) is only read out.
  const live = $("announcer");
  live.textContent = "";
  requestAnimationFrame(() => (live.textContent = message));
}

// ---------------------------------------------------------------- translation

async function loadStrings() {
  const url = document.querySelector('meta[name="console-i18n"]')?.content || "/console/assets/i18n.json";
  const response = await fetch(url, { cache: "no-cache" });
  state.strings = await response.json();
}

function initialLanguage() {
  // The agent's own choice, else their browser's language, else the town's (once /me is read).
  const stored = localStorage.getItem(LANGUAGE_KEY);
  if (LANGUAGES.includes(stored)) return stored;
  for (const wanted of navigator.languages || []) {
    const code = wanted.slice(0, 2).toLowerCase();
    if (LANGUAGES.includes(code)) return code;
  }
  state.languageGuessed = true;
  return "pt";
}

function setLanguage(lang, { remember = true } = {}) {
  state.lang = LANGUAGES.includes(lang) ? lang : "en";
  if (remember) {
    localStorage.setItem(LANGUAGE_KEY, state.lang);
    state.languageGuessed = false;
  }
  document.documentElement.lang = state.lang;
  document.documentElement.dir = RTL.has(state.lang) ? "rtl" : "ltr";
  applyStrings();
  for (const select of document.querySelectorAll(".language-select")) select.value = state.lang;
  if (state.me) {
    renderChrome();
    renderInbox();
    if (state.open?.detail) renderConversation();
    if (state.page === "dashboard" && state.report) renderReport(state.report);
    if (state.page === "broadcasts") renderBroadcastsPage();
    if (state.page === "audit") renderAuditList();
  }
}

function applyStrings(root = document) {
  for (const node of root.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n);
  for (const node of root.querySelectorAll("[data-i18n-placeholder]"))
    node.placeholder = t(node.dataset.i18nPlaceholder);
  for (const node of root.querySelectorAll("[data-i18n-aria-label]"))
    node.setAttribute("aria-label", t(node.dataset.i18nAriaLabel));
  for (const node of root.querySelectorAll("[data-i18n-title]"))
    node.title = t(node.dataset.i18nTitle);
  document.title = t("app_title");
}

function fillLanguageSelects() {
  for (const select of document.querySelectorAll(".language-select")) {
    select.replaceChildren(
      ...LANGUAGES.map((code) => h("option", { value: code, lang: code }, nativeLanguageName(code))),
    );
    select.value = state.lang;
    select.addEventListener("change", () => setLanguage(select.value));
  }
}

function nativeLanguageName(code) {
  try {
    const name = new Intl.DisplayNames([code], { type: "language" }).of(code);
    return name.charAt(0).toLocaleUpperCase(code) + name.slice(1);
  } catch {
    return code;
  }
}

// ---------------------------------------------------------------- API and session

class ApiError extends Error {
  constructor(status, code, message, field) {
    super(message || code);
    this.status = status;
    this.code = code;
    this.field = field;
  }
}

function loadTokens() {
  try {
    return JSON.parse(sessionStorage.getItem(TOKENS_KEY));
  } catch {
    return null;
  }
}

function storeTokens(answer, refreshToken) {
  state.tokens = {
    id_token: answer.id_token,
    refresh_token: answer.refresh_token || refreshToken || state.tokens?.refresh_token,
    expires_at: Date.now() + (Number(answer.expires_in) || 3600) * 1000,
  };
  sessionStorage.setItem(TOKENS_KEY, JSON.stringify(state.tokens));
}

function clearTokens() {
  state.tokens = null;
  sessionStorage.removeItem(TOKENS_KEY);
}

async function rawRequest(path, { method = "GET", body, auth = true } = {}) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (auth && state.tokens?.id_token) headers.Authorization = state.tokens.id_token;
  try {
    return await fetch(`${API}${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store",
    });
  } catch {
    throw new ApiError(0, "network", t("error_network"));
  }
}

async function errorFrom(response) {
  let error = {};
  try {
    error = (await response.json()).error || {};
  } catch {
    /* not JSON */
  }
  return new ApiError(response.status, error.code || `http_${response.status}`, error.message, error.field);
}

let refreshing = null;

function refreshTokens() {
  if (!state.tokens?.refresh_token) return Promise.resolve(false);
  refreshing ??= (async () => {
    try {
      const response = await rawRequest("/session/refresh", {
        method: "POST",
        body: { refresh_token: state.tokens.refresh_token },
        auth: false,
      });
      if (!response.ok) return false;
      storeTokens(await response.json());
      return true;
    } catch {
      return false;
    } finally {
      setTimeout(() => (refreshing = null), 0);
    }
  })();
  return refreshing;
}

async function api(path, options = {}) {
  if (!state.tokens) throw sessionExpired();
  if (state.tokens.expires_at - Date.now() < 60_000) await refreshTokens();
  let response = await rawRequest(path, options);
  if (response.status === 401 && (await refreshTokens())) response = await rawRequest(path, options);
  if (response.status === 401) throw sessionExpired();
  if (!response.ok) throw await errorFrom(response);
  if (options.raw) return response;
  if (response.status === 204) return null;
  return response.json();
}

function sessionExpired() {
  if (state.me) {
    stopPolling();
    clearTokens();
    state.me = null;
    showSignIn(t("session_expired"));
  }
  return new ApiError(401, "unauthorized", t("session_expired"));
}

// Codes that say only what kind of refusal it was; the field or the status says more.
const GENERIC_CODES = new Set(["invalid", "missing", "conflict"]);

function explain(error) {
  // The server's own messages are English: one is shown only when there is no translation for
  // the refusal (by its code, e.g. error_no_room, or by its field, e.g. error_field_until).
  if (!(error instanceof ApiError)) return t("error_generic");
  if (error.status === 401) return t("session_expired");
  if (!GENERIC_CODES.has(error.code) && has(`error_${error.code}`)) return t(`error_${error.code}`);
  const refused = error.status === 400 || error.status === 422;
  if (refused && error.field && has(`error_field_${error.field}`)) return t(`error_field_${error.field}`);
  if (error.status === 403) return t("error_forbidden");
  if (error.status === 404) return t("error_not_found");
  if (refused) return error.message || t("error_invalid");
  if (error.status === 409) return error.message || t("error_changed");
  return t("error_generic");
}

function report(error) {
  if (error instanceof ApiError && error.status === 401) return;
  toast(explain(error), "error");
}

// ---------------------------------------------------------------- sign-in

function showSignIn(notice = "") {
  $("booting").hidden = true;
  $("shell").hidden = true;
  $("signin-page").hidden = false;
  $("signin-form").hidden = false;
  $("new-password-form").hidden = true;
  $("signin-title").textContent = t("signin_title");
  const box = $("signin-notice");
  box.textContent = notice;
  box.hidden = !notice;
  $("signin-password").value = "";
  ($("signin-email").value ? $("signin-password") : $("signin-email")).focus();
}

function signInNotice(message) {
  const box = $("signin-notice");
  box.textContent = message;
  box.hidden = !message;
}

async function submitSignIn(event) {
  event.preventDefault();
  const email = $("signin-email").value.trim();
  const password = $("signin-password").value;
  if (!email || !password) return signInNotice(t("signin_missing"));
  const button = event.submitter || $("signin-form").querySelector("button");
  button.disabled = true;
  try {
    const response = await rawRequest("/session", {
      method: "POST",
      body: { email, password },
      auth: false,
    });
    if (response.status === 401 || response.status === 400)
      return signInNotice(t("signin_failed"));
    if (!response.ok) return signInNotice(explain(await errorFrom(response)));
    const answer = await response.json();
    if (answer.challenge === "new_password") {
      state.pendingChallenge = { email, session: answer.session };
      $("signin-form").hidden = true;
      $("new-password-form").hidden = false;
      $("signin-title").textContent = t("new_password_title");
      signInNotice("");
      $("new-password").focus();
      return;
    }
    storeTokens(answer);
    await startConsole();
  } catch (error) {
    signInNotice(explain(error));
  } finally {
    button.disabled = false;
  }
}

async function submitNewPassword(event) {
  event.preventDefault();
  const password = $("new-password").value;
  if (password.length < 12) return signInNotice(t("password_rule"));
  if (password !== $("new-password-again").value) return signInNotice(t("passwords_differ"));
  const challenge = state.pendingChallenge;
  if (!challenge) return showSignIn();
  try {
    const response = await rawRequest("/session/password", {
      method: "POST",
      body: { email: challenge.email, session: challenge.session, new_password: password },
      auth: false,
    });
    if (!response.ok) {
      const error = await errorFrom(response);
      if (response.status === 401) return showSignIn(t("challenge_expired"));
      // The directory's reasons are English: the rule the page states is what the agent needs.
      return signInNotice(error.field === "new_password" ? t("password_rejected") : explain(error));
    }
    state.pendingChallenge = null;
    $("new-password").value = "";
    $("new-password-again").value = "";
    storeTokens(await response.json());
    await startConsole();
  } catch (error) {
    signInNotice(explain(error));
  }
}

async function signOut() {
  stopPolling();
  // The server goes offline for the agent (their conversations return to the queues) and
  // revokes the refresh token; the browser forgets the tokens whatever it answers.
  const refreshToken = state.tokens?.refresh_token;
  if (state.tokens) {
    try {
      await rawRequest("/session", { method: "DELETE", body: { refresh_token: refreshToken } });
    } catch {
      // offline or already expired: nothing more to do here
    }
  }
  clearTokens();
  state.me = null;
  state.open = null;
  state.inbox = { items: [], cursor: null, request: 0, loadedOnce: false, known: new Set(), baseline: false };
  Object.assign(state.broadcasts, { items: null, options: null, detail: null, id: null, preview: null, draft: null, pending: null });
  state.audit = { events: [], next: null, loaded: false, request: state.audit.request + 1 };
  history.replaceState(null, "", "#/inbox");
  showSignIn(t("signed_out"));
}

// ---------------------------------------------------------------- start-up and routing

async function startConsole() {
  state.me = await api("/me");
  if (state.languageGuessed && state.me.default_language)
    setLanguage(state.me.default_language, { remember: false });
  try {
    state.seen = JSON.parse(sessionStorage.getItem(SEEN_KEY)) || {};
  } catch {
    state.seen = {};
  }
  const myTeams = state.me.agent.teams || [];
  state.team = myTeams[0] || state.me.teams[0]?.id || null;
  state.view = "mine";
  $("signin-page").hidden = true;
  $("booting").hidden = true;
  $("shell").hidden = false;
  renderChrome();
  await route();
  schedulePoll();
}

function initials(name) {
  const words = name.replace(/@.*/, "").split(/[\s._-]+/).filter(Boolean);
  return (words.length > 1 ? words[0][0] + words.at(-1)[0] : (words[0] || "?").slice(0, 2)).toUpperCase();
}

function isSupervisor() {
  const role = state.me?.agent.role;
  return role === "supervisor" || role === "admin";
}

function renderChrome() {
  const me = state.me;
  const name = me.agent.name || me.agent.id;
  $("me-name").textContent = name;
  $("me-initials").textContent = initials(name);
  $("menu-name").textContent = name;
  $("menu-role").textContent = `${me.agent.id} · ${t(`role_${me.agent.role}`)}`;
  for (const nav of ["dashboard", "broadcasts", "audit"])
    document.querySelector(`[data-nav="${nav}"]`).hidden = !isSupervisor();
  $("tab-all").hidden = !isSupervisor();
  renderPresence();
  const teams = isSupervisor()
    ? me.teams
    : me.teams.filter((team) => me.agent.teams.includes(team.id));
  fillSelect($("team-select"), teams.map((team) => [team.id, team.name]), state.team);
  fillSelect(
    $("report-team"),
    [["", t("all_teams")], ...me.teams.map((team) => [team.id, team.name])],
    $("report-team").value || "",
  );
  for (const tab of document.querySelectorAll("[data-view]")) {
    const active = tab.dataset.view === state.view;
    tab.setAttribute("aria-selected", String(active));
    tab.tabIndex = active ? 0 : -1;
  }
  $("team-picker").hidden = !(state.view === "unassigned" || state.view === "team");
  $("inbox-list").setAttribute("aria-labelledby", `tab-${state.view}`);
  for (const link of document.querySelectorAll("[data-nav]")) {
    if (link.dataset.nav === state.page) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  renderShortcuts();
}

function fillSelect(select, options, selected) {
  select.replaceChildren(...options.map(([value, label]) => h("option", { value }, label)));
  if (selected !== undefined && selected !== null && options.some(([value]) => value === selected))
    select.value = selected;
}

function renderPresence() {
  const online = Boolean(state.me?.agent.online);
  const button = $("presence-button");
  button.classList.toggle("is-online", online);
  button.setAttribute("aria-pressed", String(online));
  $("presence-label").textContent = online ? t("available") : t("away");
  button.title = online ? t("presence_online_hint") : t("presence_away_hint");
  $("presence-hint").textContent = button.title;
}

async function togglePresence() {
  const online = !state.me.agent.online;
  try {
    const answer = await api("/me/presence", { method: "POST", body: { online } });
    state.me.agent = answer.agent;
    renderPresence();
    toast(online ? t("now_available") : t("now_away"));
    loadInbox({ quiet: true });
  } catch (error) {
    report(error);
  }
}

async function route() {
  const hash = location.hash || "#/inbox";
  const conversation = hash.match(/^#\/c\/([^/?#]+)/);
  if (hash.startsWith("#/dashboard") && isSupervisor()) {
    state.page = "dashboard";
    showPage();
    await loadReport();
    return;
  }
  const broadcast = hash.match(/^#\/broadcasts(?:\/([^/?#]+))?/);
  if (broadcast && isSupervisor()) {
    state.page = "broadcasts";
    showPage();
    await showBroadcasts(broadcast[1] ? decodeURIComponent(broadcast[1]) : null);
    return;
  }
  if (hash.startsWith("#/audit") && isSupervisor()) {
    state.page = "audit";
    showPage();
    await loadAudit();
    return;
  }
  stopBroadcastPolling();
  state.page = "inbox";
  showPage();
  if (!state.inbox.loadedOnce) await loadInbox();
  if (conversation) {
    const id = decodeURIComponent(conversation[1]);
    if (state.open?.id !== id) await openConversation(id);
  } else {
    closeConversation();
  }
}

function showPage() {
  $("inbox-page").hidden = state.page !== "inbox";
  $("dashboard-page").hidden = state.page !== "dashboard";
  $("broadcasts-page").hidden = state.page !== "broadcasts";
  $("audit-page").hidden = state.page !== "audit";
  if (state.page !== "broadcasts") stopBroadcastPolling();
  for (const link of document.querySelectorAll("[data-nav]")) {
    if (link.dataset.nav === state.page) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  updateTitle();
}

function updateTitle() {
  const waiting = state.inbox.items.length;
  const where = { dashboard: t("dashboard"), broadcasts: t("broadcasts"), audit: t("audit_log") }[state.page] || t("inbox");
  document.title = state.page === "inbox" && waiting ? `(${waiting}) ${where} · civicchat` : `${where} · civicchat`;
}

// ---------------------------------------------------------------- polling

function schedulePoll() {
  clearTimeout(state.pollTimer);
  if (!state.me) return;
  if (document.hidden) return startHeartbeat();
  state.pollTimer = setTimeout(poll, POLL_MS);
}

function stopPolling() {
  clearTimeout(state.pollTimer);
  state.pollTimer = null;
  stopBroadcastPolling();
  stopHeartbeat();
}

function startHeartbeat() {
  if (state.heartbeat || !state.me) return;
  state.heartbeat = setInterval(() => {
    if (state.me) api("/me").catch(() => {}); // any signed-in request marks the agent seen
  }, HEARTBEAT_MS);
}

function stopHeartbeat() {
  clearInterval(state.heartbeat);
  state.heartbeat = null;
}

async function backInView() {
  // The agent may have been set away while the tab was hidden (by a colleague, or by the
  // server if the browser held the heartbeat back): say so before they expect new work.
  const wasOnline = Boolean(state.me?.agent.online);
  try {
    const me = await api("/me");
    if (!state.me) return;
    state.me.agent = me.agent;
    state.me.agents = me.agents;
    renderPresence();
    if (wasOnline && !me.agent.online) toast(t("presence_lost"), "error");
  } catch {
    /* the poll below tries the server again */
  }
  if (state.page === "broadcasts") scheduleBroadcastPoll(0);
  poll();
}

async function poll() {
  if (!state.me || state.polling) return;
  state.polling = true;
  try {
    const work = [];
    if (state.page === "inbox") {
      if (state.search.items === null) work.push(loadInbox({ quiet: true }));
      if (state.open) work.push(pollConversation());
    }
    await Promise.allSettled(work);
  } finally {
    state.polling = false;
    schedulePoll();
  }
}

document.addEventListener("visibilitychange", () => {
  if (!state.me) return;
  if (document.hidden) {
    stopPolling();
    startHeartbeat();
  } else {
    stopHeartbeat();
    backInView();
  }
});

// ---------------------------------------------------------------- inbox

function inboxQuery(cursor) {
  const params = new URLSearchParams({ view: state.view });
  if ((state.view === "unassigned" || state.view === "team") && state.team) params.set("team", state.team);
  if (cursor) params.set("cursor", cursor);
  return `/inbox?${params}`;
}

async function loadInbox({ append = false, quiet = false } = {}) {
  const request = ++state.inbox.request;
  const list = $("inbox-list");
  if (!quiet) list.setAttribute("aria-busy", "true");
  try {
    const answer = await api(inboxQuery(append ? state.inbox.cursor : null));
    if (request !== state.inbox.request) return;
    const fresh = answer.items || [];
    let items;
    if (append) {
      const have = new Set(state.inbox.items.map((row) => row.id));
      items = [...state.inbox.items, ...fresh.filter((row) => !have.has(row.id))];
    } else if (quiet && state.inbox.items.length > fresh.length && state.inbox.cursor) {
      // Keep the pages the agent loaded by hand below the refreshed first page.
      const have = new Set(fresh.map((row) => row.id));
      items = [...fresh, ...state.inbox.items.slice(fresh.length).filter((row) => !have.has(row.id))];
    } else {
      items = fresh;
    }
    // Rows are "new" only against what this same list showed before.
    const arrived = state.inbox.baseline ? items.filter((row) => !state.inbox.known.has(row.id)) : [];
    state.inbox.items = items;
    if (!append && !(quiet && state.inbox.cursor && items.length > fresh.length))
      state.inbox.cursor = answer.cursor || null;
    state.inbox.loadedOnce = true;
    state.inbox.baseline = true;
    for (const row of items) state.inbox.known.add(row.id);
    renderInbox(new Set(arrived.map((row) => row.id)));
    // The open conversation "arrives" in a list because of what the agent just did to it.
    const news = arrived.filter((row) => row.id !== state.open?.id);
    if (news.length && quiet) announceArrivals(news);
    syncOpenFromRow();
  } catch (error) {
    if (!quiet) report(error);
  } finally {
    if (request === state.inbox.request) list.setAttribute("aria-busy", "false");
  }
}

function announceArrivals(rows) {
  const message =
    rows.length === 1
      ? t("new_conversation_one", { name: displayName(rows[0]) })
      : plural("new_conversations", rows.length);
  toast(message, "info");
}

function syncOpenFromRow() {
  // The inbox row of the open conversation carries a fresher SLA countdown than its header.
  if (!state.open?.detail) return;
  const row = state.inbox.items.find((item) => item.id === state.open.id);
  if (!row) return;
  const current = state.open.detail.conversation;
  const changed =
    row.status !== current.status || row.assignee !== current.assignee || row.team !== current.team;
  state.open.detail.conversation = { ...current, sla: row.sla, preview: row.preview };
  renderSla();
  if (changed) refreshDetail();
}

function setView(view) {
  if (view === "all" && !isSupervisor()) return;
  state.view = view;
  resetInboxList();
  clearSearch({ reload: false });
  renderChrome();
  renderInbox();
  loadInbox();
}

function resetInboxList() {
  Object.assign(state.inbox, { items: [], cursor: null, known: new Set(), baseline: false });
}

function rowsToShow() {
  return state.search.items ?? state.inbox.items;
}

function renderInbox(arrived = new Set()) {
  if (!state.me) return;
  const rows = rowsToShow();
  const list = $("inbox-items");
  // Polls redraw the rows: keyboard focus stays on the same conversation (or the same place).
  const focused = list.contains(document.activeElement) ? document.activeElement.closest(".row") : null;
  const focusedIndex = focused ? [...list.querySelectorAll(".row")].indexOf(focused) : -1;
  list.replaceChildren(...rows.map((row) => inboxRow(row, arrived.has(row.id))));
  if (focused) {
    const again =
      list.querySelector(`.row[data-id="${CSS.escape(focused.dataset.id)}"]`) ||
      list.querySelectorAll(".row")[Math.min(focusedIndex, rows.length - 1)];
    again?.focus({ preventScroll: true });
  }
  const empty = $("inbox-empty");
  empty.hidden = rows.length > 0 || !(state.inbox.loadedOnce || state.search.items);
  empty.textContent = state.search.items ? t("search_no_results") : t(`empty_${state.view}`);
  $("inbox-more").hidden = Boolean(state.search.items) || !state.inbox.cursor;
  updateTitle();
}

function inboxRow(row, isNew) {
  const active = state.open?.id === row.id;
  const unread =
    row.last_message_at &&
    (!state.seen[row.id] || Date.parse(state.seen[row.id]) < Date.parse(row.last_message_at)) &&
    !active;
  const chips = [];
  if (row.sla) chips.push(slaBadge(row.sla));
  if (row.status === "snoozed")
    chips.push(h("span", { class: "chip chip-snoozed" }, icon("moon"), t("snoozed_until", { when: formatShortWhen(row.snoozed_until) })));
  if (row.status === "queued") chips.push(h("span", { class: "chip chip-queued" }, t("status_queued")));
  if (row.status === "resolved") chips.push(h("span", { class: "chip" }, t("status_resolved")));
  if (state.view !== "mine" && row.assignee)
    chips.push(h("span", { class: "chip chip-agent" }, row.assignee === state.me.agent.id ? t("you") : agentName(row.assignee)));
  if (row.team && (state.view === "mine" || state.view === "all" || state.search.items))
    chips.push(h("span", { class: "chip chip-team" }, teamName(row.team)));
  const classes = ["row", active && "is-active", unread && "is-unread", isNew && "is-new"]
    .filter(Boolean)
    .join(" ");
  return h(
    "li",
    {},
    h(
      "a",
      {
        class: classes,
        href: `#/c/${encodeURIComponent(row.id)}`,
        "aria-current": active ? "true" : null,
        dataset: { id: row.id },
      },
      h(
        "span",
        { class: "row-top" },
        h("span", { class: "row-name" }, h("bdi", {}, displayName(row))),
        unread ? h("span", { class: "sr-only" }, t("unread")) : null,
        h("time", { class: "row-time", datetime: row.last_message_at || row.opened_at }, formatShortWhen(row.last_message_at || row.opened_at)),
      ),
      h("span", { class: "row-preview" }, h("bdi", {}, row.preview || "—")),
      chips.length ? h("span", { class: "row-chips" }, chips) : null,
    ),
  );
}

function slaText(sla) {
  const overdue = sla.state === "breached" || sla.seconds_left < 0;
  const time = formatDuration(sla.seconds_left);
  return overdue ? t("sla_overdue", { time }) : plural("sla_left", durationCount(sla.seconds_left), { time });
}

function slaBadge(sla, { long = false } = {}) {
  const target = t(`sla_${sla.target}`);
  const text = slaText(sla);
  const due = t("sla_due", { when: formatDateTime(sla.due) });
  const icon = { ok: "●", warning: "▲", breached: "■" }[sla.state] || "●";
  const label = `${target}: ${text}. ${t(`sla_state_${sla.state}`)}. ${due}`;
  return h(
    "span",
    { class: `sla sla-${sla.state}`, title: label, "aria-label": label, role: "img" },
    h("span", { class: "sla-icon", "aria-hidden": "true" }, icon),
    h("span", { "aria-hidden": "true" }, long ? `${target} · ${text}` : text),
  );
}

// ---------------------------------------------------------------- search

let searchTimer = null;

function onSearchInput() {
  clearTimeout(searchTimer);
  const query = $("search-input").value.trim();
  if (!query) return clearSearch();
  searchTimer = setTimeout(() => runSearch(query), 300);
}

async function runSearch(query) {
  const request = ++state.search.request;
  state.search.query = query;
  try {
    const answer = await api(`/search?${new URLSearchParams({ q: query })}`);
    if (request !== state.search.request) return;
    state.search.items = answer.items || [];
    $("search-summary").hidden = false;
    $("search-summary-text").textContent = plural("search_results", state.search.items.length, { query });
    renderInbox();
  } catch (error) {
    report(error);
  }
}

function clearSearch({ reload = true } = {}) {
  state.search.request++;
  state.search.items = null;
  state.search.query = "";
  $("search-input").value = "";
  $("search-summary").hidden = true;
  if (reload) renderInbox();
}

// ---------------------------------------------------------------- a conversation

function closeConversation() {
  state.open = null;
  $("conversation").hidden = true;
  $("conversation-placeholder").hidden = false;
  $("profile-pane").hidden = true;
  $("inbox-page").classList.remove("has-conversation", "show-profile");
  renderInbox();
}

async function openConversation(id) {
  state.open = {
    id,
    detail: null,
    messages: new Map(),
    cursor: null,
    newest: null,
    polls: 0,
    seq: 0,
    nodes: new Map(), // rendered timeline entries by message id (and day), see renderTimeline
    renderedLang: state.lang,
    profileLook: null,
  };
  state.attachment = null;
  setMode("reply");
  $("composer-text").value = "";
  $("inbox-page").classList.add("has-conversation");
  $("inbox-page").classList.remove("show-profile");
  $("conversation-placeholder").hidden = true;
  $("conversation").hidden = false;
  $("timeline-items").replaceChildren(h("li", { class: "loading-line" }, t("loading")));
  $("conversation-name").textContent = "";
  $("conversation-meta").textContent = "";
  renderInbox();
  try {
    // One after the other: each read is an audit-log view, and the second finds the first's
    // (one `viewed` per opening; in parallel both would be recorded).
    const detail = await api(`/conversations/${encodeURIComponent(id)}`);
    const page = await api(`/conversations/${encodeURIComponent(id)}/messages`);
    if (state.open?.id !== id) return;
    state.open.detail = detail;
    state.open.cursor = page.cursor || null;
    addMessages(page.items || []);
    markSeen(detail.conversation);
    renderConversation();
    scrollTimeline(true);
    if (window.matchMedia("(max-width: 800px)").matches) $("conversation-name").focus?.();
  } catch (error) {
    if (state.open?.id !== id) return;
    report(error);
    if (error.status === 404 || error.status === 403) location.hash = "#/inbox";
  }
}

function markSeen(conversation) {
  state.seen[conversation.id] = conversation.last_message_at || new Date().toISOString();
  sessionStorage.setItem(SEEN_KEY, JSON.stringify(state.seen));
}

async function refreshDetail({ quietlyGone = false } = {}) {
  if (!state.open) return;
  const id = state.open.id;
  try {
    const detail = await api(`/conversations/${encodeURIComponent(id)}`);
    if (state.open?.id !== id) return;
    state.open.detail = detail;
    renderConversation({ keepComposer: true });
  } catch (error) {
    if (error.status === 404 && state.open?.id === id) {
      // Transferred away, or taken out of the agent's teams: it left their view.
      if (!quietlyGone) toast(t("conversation_gone"), "info");
      location.hash = "#/inbox";
    }
  }
}

function addMessages(items) {
  // Pages come newest first. Inbound times have whole seconds and outbound microseconds, so
  // times are compared as instants; messages of one instant keep the page's order.
  const open = state.open;
  const added = [];
  for (const message of [...items].reverse()) {
    const known = open.messages.get(message.id);
    message._at = Date.parse(message.created_at);
    message._seq = known ? known._seq : ++open.seq;
    if (!known) added.push(message);
    open.messages.set(message.id, message);
    if (!open.newest || message._at > Date.parse(open.newest)) open.newest = message.created_at;
  }
  return added;
}

async function pollConversation() {
  const open = state.open;
  if (!open?.detail) return;
  open.polls += 1;
  const params = new URLSearchParams();
  // Known messages come back too; they are dropped by id.
  if (open.newest) params.set("after", new Date(Date.parse(open.newest) - LATE_MS).toISOString());
  try {
    const page = await api(`/conversations/${encodeURIComponent(open.id)}/messages?${params}`);
    if (state.open !== open) return;
    const nearBottom = isNearBottom();
    const added = addMessages(page.items || []);
    const changed = added.some((m) => m.direction === "in" || m.type === "event");
    const inbound = added.filter((m) => m.direction === "in");
    if (inbound.length) announceInbound(inbound);
    // Cheap when nothing changed: only new messages are drawn, and statuses that moved.
    renderTimeline();
    if (added.length) {
      if (nearBottom) scrollTimeline(true);
      else $("jump-latest").hidden = false;
      markSeen(open.detail.conversation);
    }
    // Outbound statuses move (queued → sent → delivered → read): re-read the latest few, at
    // once while something is still leaving, now and then afterwards.
    await refreshRecentStatuses(open, { leavingOnly: open.polls % 3 !== 0 });
    if (changed || open.polls % DETAIL_EVERY === 0) await refreshDetail();
  } catch {
    /* the next poll tries again */
  }
}

function announceInbound(messages) {
  // The timeline is not a live region (a redraw would be read out again): new messages from
  // the resident are announced once, here.
  const detail = state.open?.detail;
  if (!detail) return;
  const name = detail.resident?.name || displayName(detail.conversation);
  if (messages.length > 1) return announce(plural("new_messages_from", messages.length, { name }));
  const text = (messages[0].body || "").replace(/^\[[a-z_]+\]\s*/, "");
  announce(text ? t("new_message_from", { name, text }) : t("new_message_from_plain", { name }));
}

function watchedStatus(message, leavingOnly, since) {
  // Queued or sending: leaving now. Sent or delivered: a read receipt may still come, but only
  // recent messages are worth asking about again.
  if (message.direction !== "out") return false;
  if (LEAVING.has(message.status)) return true;
  return !leavingOnly && SETTLING.has(message.status) && message._at > since;
}

async function refreshRecentStatuses(open, { leavingOnly = false } = {}) {
  const since = Date.now() - STATUS_WATCH_MS;
  const pending = [...open.messages.values()].some((m) => watchedStatus(m, leavingOnly, since));
  if (!pending) return;
  const page = await api(`/conversations/${encodeURIComponent(open.id)}/messages`);
  if (state.open !== open) return;
  let moved = false;
  for (const message of page.items || []) {
    const known = open.messages.get(message.id);
    if (!known) continue; // new messages are the poll's to add (and announce)
    if (messageLook(known) === messageLook(message) && known.status === message.status) continue;
    message._at = known._at;
    message._seq = known._seq;
    open.messages.set(message.id, message);
    moved = true;
  }
  if (moved) renderTimeline();
}

async function loadEarlier() {
  const open = state.open;
  if (!open?.cursor) return;
  const timeline = $("timeline");
  const height = timeline.scrollHeight;
  try {
    const page = await api(
      `/conversations/${encodeURIComponent(open.id)}/messages?${new URLSearchParams({ cursor: open.cursor })}`,
    );
    if (state.open !== open) return;
    open.cursor = page.cursor || null;
    addMessages(page.items || []);
    renderTimeline();
    timeline.scrollTop = timeline.scrollHeight - height;
  } catch (error) {
    report(error);
  }
}

function isNearBottom() {
  const timeline = $("timeline");
  return timeline.scrollHeight - timeline.scrollTop - timeline.clientHeight < 80;
}

function scrollTimeline(toEnd) {
  const timeline = $("timeline");
  if (toEnd) timeline.scrollTop = timeline.scrollHeight;
  $("jump-latest").hidden = true;
}

function renderConversation({ keepComposer = false } = {}) {
  const detail = state.open?.detail;
  if (!detail) return;
  const row = detail.conversation;
  const resident = detail.resident || {};
  $("conversation-name").replaceChildren(h("bdi", {}, resident.name || displayName(row)));
  $("conversation-name").tabIndex = -1;
  const status =
    row.status === "assigned" && row.assignee
      ? row.assignee === state.me.agent.id
        ? t("status_assigned_to_you")
        : t("status_assigned_to", { agent: agentName(row.assignee) })
      : row.status === "snoozed"
        ? t("snoozed_until", { when: formatDateTime(row.snoozed_until) })
        : t(`status_${row.status}`);
  const meta = [
    row.phone ? phoneNode(row.phone) : null,
    languageName(resident.language || row.language),
    teamName(row.team),
    status,
  ].filter(Boolean);
  $("conversation-meta").replaceChildren(
    ...meta.flatMap((part, index) => [
      ...(index ? [h("span", { class: "sep", "aria-hidden": "true" }, "·")] : []),
      h("span", {}, part),
    ]),
  );
  renderSla();
  renderActions();
  renderWindowState();
  if (!keepComposer) renderTemplates();
  renderProfileIfChanged();
  renderTimeline();
  $("profile-pane").hidden = false;
}

function renderSla() {
  const sla = state.open?.detail?.conversation?.sla;
  $("conversation-sla").replaceChildren(sla ? slaBadge(sla, { long: true }) : "");
}

function renderActions() {
  const row = state.open.detail.conversation;
  const open = OPEN_STATUSES.has(row.status);
  const mine = row.assignee === state.me.agent.id;
  $("action-take").hidden = !(open || row.status === "bot") || (mine && row.status !== "snoozed");
  $("action-take").textContent = row.status === "snoozed" && mine ? t("wake_now") : t("assign_to_me");
  $("action-assign").hidden = !open;
  $("action-transfer").hidden = !open;
  $("action-snooze").hidden = !open;
  $("action-resolve").hidden = !open;
  $("action-reopen").hidden = row.status !== "resolved";
  $("composer").hidden = row.status === "resolved";
}

function renderWindowState() {
  const detail = state.open.detail;
  const box = $("window-state");
  if (detail.window_open) {
    box.className = "window-state window-open";
    box.textContent = detail.window_closes_at
      ? t("window_open_until", { when: formatDateTime(detail.window_closes_at) })
      : t("window_open");
  } else {
    box.className = "window-state window-closed";
    box.textContent = t("window_closed");
  }
  updateComposerMode();
}

function residentLanguage() {
  const detail = state.open?.detail;
  return detail?.resident?.language || detail?.conversation?.language || state.me.default_language || "pt";
}

function renderTemplates() {
  const language = residentLanguage();
  const templates = state.me.templates || [];
  const options = templates.map((template) => {
    const available = (template.languages || []).includes(language);
    const label = available ? template.name : `${template.name} — ${t("template_not_in", { language: languageName(language) })}`;
    return h("option", { value: template.name, disabled: !available }, label);
  });
  $("template-select").replaceChildren(...options);
  const preferred = templates.find((tpl) => tpl.name === "reopen_conversation" && tpl.languages.includes(language));
  if (preferred) $("template-select").value = preferred.name;
  $("template-params").value = "";
}

function setMode(mode) {
  if (mode !== state.mode) closeQuickReplies();
  state.mode = mode;
  for (const input of document.querySelectorAll('input[name="mode"]')) input.checked = input.value === mode;
  updateComposerMode();
}

function updateComposerMode() {
  const note = state.mode === "note";
  const windowOpen = state.open?.detail ? state.open.detail.window_open : true;
  const template = !note && !windowOpen;
  $("composer").classList.toggle("is-note", note);
  $("note-banner").hidden = !note;
  $("template-box").hidden = !template;
  $("text-box").hidden = template;
  $("attach-label").hidden = note || template;
  $("composer-help").hidden = template;
  if (note || template) clearAttachment();
  $("composer-text").placeholder = note ? t("note_placeholder") : t("composer_placeholder");
  $("composer-label").textContent = note ? t("mode_note") : t("message");
  $("send-button").textContent = note ? t("add_note") : template ? t("send_template") : t("send");
  $("send-button").classList.toggle("note", note);
  if (note || template) closeQuickReplies();
}

// ---------------------------------------------------------------- timeline

function sortedMessages() {
  return [...state.open.messages.values()].sort((a, b) => a._at - b._at || a._seq - b._seq);
}

function renderTimeline() {
  // Each message is drawn once and kept (by id): polls add the new ones and update delivery
  // statuses in place, so a playing voice note keeps playing, focus stays where it is and
  // media links are not fetched again. A change of language draws everything anew.
  const open = state.open;
  if (!open) return;
  if (open.renderedLang !== state.lang) {
    open.nodes = new Map();
    open.renderedLang = state.lang;
  }
  const items = [];
  let day = null;
  for (const message of sortedMessages()) {
    const date = parseTime(message.created_at);
    const key = date.toDateString();
    if (key !== day) {
      day = key;
      items.push(dayNode(open, key, date));
    }
    items.push(messageNode(open, message));
  }
  if (!items.length) items.push(h("li", { class: "loading-line" }, t("no_messages")));
  placeChildren($("timeline-items"), items);
  $("timeline-earlier").hidden = !open.cursor;
}

function dayNode(open, key, date) {
  const id = `day:${key}`;
  if (!open.nodes.has(id)) {
    const label = formatDate(date, { weekday: "long", day: "numeric", month: "long", year: "numeric" });
    open.nodes.set(id, { node: h("li", { class: "day" }, h("span", {}, label)) });
  }
  return open.nodes.get(id).node;
}

function messageLook(message) {
  // What a message looks like, apart from its delivery status: its file arriving, a failure.
  return JSON.stringify([message.type, message.body, Boolean(message.media), message.error_title || null]);
}

function messageNode(open, message) {
  const look = messageLook(message);
  const failed = message.status === "failed";
  const kept = open.nodes.get(message.id);
  if (kept && kept.look === look && kept.failed === failed) {
    if (kept.status !== message.status) {
      kept.node.querySelector(".delivery")?.replaceWith(deliveryStatus(message));
      kept.status = message.status;
    }
    return kept.node;
  }
  const node = renderMessage(message);
  open.nodes.set(message.id, { node, look, failed, status: message.status });
  return node;
}

function placeChildren(parent, nodes) {
  // `nodes` in this order under `parent`, inserting only the new ones: a kept node is never
  // moved (moving an <audio> out of the page and back would stop it).
  const wanted = new Set(nodes);
  for (const child of [...parent.children]) if (!wanted.has(child)) child.remove();
  let next = parent.firstElementChild;
  for (const node of nodes) {
    if (node === next) next = next.nextElementSibling;
    else parent.insertBefore(node, next);
  }
}

function renderMessage(message) {
  if (message.type === "event") return renderEvent(message);
  const kind = message.direction === "in" ? "in" : message.direction === "note" ? "note" : "out";
  const who =
    kind === "in"
      ? null
      : kind === "note"
        ? `${t("note_label")} · ${agentName(message.sent_by)}`
        : agentName(message.sent_by || "bot");
  const meta = h(
    "div",
    { class: "msg-meta" },
    who ? h("span", { class: "msg-who" }, who) : null,
    h("time", { datetime: message.created_at, title: formatDateTime(message.created_at) }, formatTime(message.created_at)),
    kind === "out" ? deliveryStatus(message) : null,
  );
  return h(
    "li",
    { class: `msg msg-${kind}`, id: `m-${message.id}` },
    h("div", { class: "bubble" }, messageContent(message), meta),
  );
}

function deliveryStatus(message) {
  const marks = {
    queued: icon("clock"),
    sending: icon("clock"),
    sent: "✓",
    delivered: "✓✓",
    read: "✓✓",
    played: "✓✓",
    failed: icon("alert"),
    skipped: "⊘",
  };
  const label = t(`delivery_${message.status}`);
  return h(
    "span",
    { class: `delivery delivery-${message.status}`, title: message.error_title || label },
    h("span", { "aria-hidden": "true" }, marks[message.status] || ""),
    h("span", { class: "delivery-text" }, label),
  );
}

function messageContent(message) {
  const parts = [];
  if (message.type === "template") {
    const name = message.payload?.template?.name || message.payload?.name || "";
    parts.push(h("p", { class: "msg-kind" }, t("template_label", { name })));
  }
  if (message.media) parts.push(mediaElement(message));
  else if (["image", "audio", "voice", "video", "document", "sticker"].includes(message.type))
    parts.push(h("p", { class: "msg-kind" }, t(`media_${message.type}_pending`, {}) ));
  if (message.location) parts.push(locationLink(message.location));
  // Stored bodies are summaries for logs ("[image] caption"); the console shows the thing itself.
  const summaryOnly = message.type === "template" && /^\[template\b/.test(message.body || "");
  const body = message.media ? (message.body || "").replace(/^\[[a-z_]+\]\s*/, "") : message.body;
  if (body && !summaryOnly) parts.push(h("p", { class: "msg-text", dir: "auto" }, body));
  if (message.status === "failed" && message.error_title)
    parts.push(h("p", { class: "msg-error" }, t("delivery_failed_because", { reason: message.error_title })));
  if (!parts.length) parts.push(h("p", { class: "msg-kind" }, t("message_without_text")));
  return h("div", { class: "msg-content" }, parts);
}

function locationLink(location) {
  const { latitude, longitude } = location;
  const url = `https://www.openstreetmap.org/?mlat=${latitude}&mlon=${longitude}#map=17/${latitude}/${longitude}`;
  const label = [location.name, location.address].filter(Boolean).join(" — ") || `${latitude}, ${longitude}`;
  return h(
    "p",
    { class: "msg-location" },
    icon("pin"),
    " ",
    h("a", { href: url, target: "_blank", rel: "noopener noreferrer" }, label),
    h("span", { class: "sr-only" }, ` (${t("opens_map")})`),
  );
}

async function mediaUrl(messageId) {
  const cached = state.mediaCache.get(messageId);
  if (cached && cached.expires > Date.now()) return cached.url;
  const answer = await api(
    `/conversations/${encodeURIComponent(state.open.id)}/media/${encodeURIComponent(messageId)}`,
  );
  state.mediaCache.set(messageId, { url: answer.url, expires: Date.now() + 240_000 });
  return answer.url;
}

function mediaElement(message) {
  const { mime_type: mime = "", message_id: id } = message.media;
  const caption = (message.body || "").replace(/^\[[a-z_]+\]\s*/, "");
  if (mime.startsWith("image/")) {
    const image = h("img", { alt: caption || t("photo_from_resident"), loading: "lazy" });
    const link = h("a", { class: "msg-image", href: "#", target: "_blank", rel: "noopener noreferrer" }, image);
    mediaUrl(id)
      .then((url) => {
        image.src = url;
        link.href = url;
      })
      .catch(() => image.replaceWith(h("span", { class: "msg-kind" }, t("media_unavailable"))));
    return link;
  }
  if (mime.startsWith("audio/") || mime.startsWith("video/")) {
    const tag = mime.startsWith("audio/") ? "audio" : "video";
    const player = h(tag, { controls: true, preload: "metadata", "aria-label": tag === "audio" ? t("voice_note") : t("video") });
    mediaUrl(id)
      .then((url) => (player.src = url))
      .catch(() => player.replaceWith(h("span", { class: "msg-kind" }, t("media_unavailable"))));
    return player;
  }
  const name = message.media.filename || message.payload?.document?.filename || caption || t("document");
  return h(
    "a",
    {
      class: "msg-document",
      href: "#",
      onclick: async (event) => {
        // Documents are links that save the file (the server signs them "attachment"), so
        // following one does not leave the console.
        event.preventDefault();
        try {
          const link = h("a", { href: await mediaUrl(id), rel: "noopener noreferrer" });
          document.body.append(link);
          link.click();
          link.remove();
        } catch (error) {
          report(error);
        }
      },
    },
    icon("doc"),
    " ",
    name,
    h("span", { class: "msg-mime" }, ` (${mime || t("document")})`),
  );
}

function renderEvent(message) {
  const payload = message.payload || {};
  const byPerson = message.sent_by && message.sent_by !== "system";
  const actor = byPerson ? agentName(message.sent_by) : t("sender_system");
  const agentId = payload.agent || payload.agent_id || null;
  const vars = {
    actor,
    agent: agentName(agentId),
    team: teamName(payload.to_team || payload.team),
    from: teamName(payload.from_team),
    until: formatDateTime(payload.until),
    target: payload.target ? t(`sla_${payload.target}`) : "",
    added: (payload.added || []).join(", ") || "—",
    removed: (payload.removed || []).join(", ") || "—",
  };
  let text;
  switch (payload.event) {
    case "assigned":
      if (!byPerson) text = t("event_assigned_auto", vars);
      else if (agentId === message.sent_by) text = t("event_taken", vars);
      else text = t("event_assigned", vars);
      break;
    case "transferred":
      text = agentId ? t("event_transferred_agent", vars) : t("event_transferred", vars);
      break;
    case "tagged":
      if (!payload.removed?.length) text = t("event_tag_added", vars);
      else if (!payload.added?.length) text = t("event_tag_removed", vars);
      else text = t("event_tagged", vars);
      break;
    case "resolved":
    case "reopened":
    case "snoozed":
    case "woke":
    case "returned_to_queue":
    case "sla_warning":
    case "sla_breach":
    case "escalated":
      text = t(`event_${payload.event}`, vars);
      break;
    default:
      text = message.body || payload.event || "";
  }
  const note = payload.note ? h("bdi", { class: "event-note" }, `“${payload.note}”`) : null;
  const alert = payload.event === "sla_breach" || payload.event === "escalated";
  return h(
    "li",
    { class: `event${alert ? " event-alert" : ""}`, id: `m-${message.id}` },
    h("span", {}, text, note ? " " : null, note, " · ", h("time", { datetime: message.created_at }, formatTime(message.created_at))),
  );
}

// ---------------------------------------------------------------- resident panel

function renderProfileIfChanged() {
  // Polls re-read the conversation every 30 s: the panel is redrawn only when what it shows
  // changed, so focus on one of its links or buttons is not lost.
  const open = state.open;
  const detail = open.detail;
  const look = JSON.stringify([
    state.lang,
    detail.conversation.id,
    detail.conversation.phone,
    detail.resident,
    detail.tickets,
    detail.reminders,
    detail.past_conversations,
  ]);
  if (open.profileLook === look) return;
  open.profileLook = look;
  renderProfile();
}

function reminderKind(kind) {
  // The town's reminder kinds the console knows a label for; others as configured.
  return has(`reminder_kind_${kind}`) ? t(`reminder_kind_${kind}`) : kind.replaceAll("_", " ");
}

function renderProfile() {
  const detail = state.open.detail;
  const resident = detail.resident || {};
  const row = detail.conversation;
  const consent = {
    given: t("consent_given"),
    declined: t("consent_declined"),
    pending: t("consent_pending"),
  }[resident.consent] || resident.consent || "—";
  const facts = [
    [t("name"), resident.name || "—"],
    [t("phone"), resident.phone || row.phone ? phoneNode(resident.phone || row.phone) : "—"],
    [t("language"), languageName(resident.language)],
    [t("consent"), resident.consent_at ? `${consent} · ${formatDate(resident.consent_at)}` : consent],
    [t("notices"), resident.opted_out ? t("opted_out") : t("opted_in")],
  ];
  fillFacts("profile-facts", facts);

  renderTags(resident.tags || []);

  const fields = Object.entries(resident.custom_fields || {});
  $("fields-section").hidden = fields.length === 0;
  fillFacts("custom-fields", fields.map(([term, value]) => [term, String(value)]));

  fillCards("ticket-list", detail.tickets || [], (ticket) => [
    h("p", { class: "card-title" }, h("strong", {}, ticket.reference), " ", h("span", { class: `chip chip-ticket-${ticket.status}` }, t(`ticket_${ticket.status}`))),
    h("p", { class: "card-meta" }, [ticket.category, teamName(ticket.team), formatDate(ticket.created_at)].filter(Boolean).join(" · ")),
    ticket.description ? h("p", { class: "card-text" }, h("bdi", {}, ticket.description)) : null,
  ]);

  fillCards("reminder-list", detail.reminders || [], (item) => [
    h("p", { class: "card-title" }, h("strong", {}, reminderKind(item.kind)), " ", h("span", { class: "chip" }, t(`reminder_state_${item.state}`))),
    h("p", { class: "card-meta" }, `${t("due")} ${formatDay(item.due_date)} · ${item.external_id}`),
  ]);

  renderResidentData();

  const past = (detail.past_conversations || []).filter((item) => item.id !== row.id);
  fillCards("past-list", past, (item) => [
    h(
      "a",
      { href: `#/c/${encodeURIComponent(item.id)}` },
      `${formatDate(item.opened_at)} · ${t(`status_${item.status}`)}`,
    ),
    item.resolved_at ? h("p", { class: "card-meta" }, t("resolved_on", { when: formatDate(item.resolved_at) })) : null,
  ]);
}

// Terms and their values (text is isolated for right-to-left pages; nodes go in as they are).
function fillFacts(id, pairs) {
  $(id).replaceChildren(...factNodes(pairs));
}

function factNodes(pairs) {
  return pairs.flatMap(([term, value]) => [h("dt", {}, term), h("dd", {}, typeof value === "string" ? h("bdi", {}, value) : value)]);
}

// One card per item, or "none".
function fillCards(id, items, card) {
  $(id).replaceChildren(
    ...(items.length ? items.map((item) => h("li", { class: "card" }, card(item))) : [h("li", { class: "muted" }, t("none"))]),
  );
}

function renderTags(tags) {
  $("tag-list").replaceChildren(
    ...(tags.length
      ? tags.map((tag) =>
          h(
            "li",
            { class: "tag" },
            h("span", {}, tag),
            h("button", {
              type: "button",
              class: "tag-remove",
              "aria-label": t("remove_tag", { tag }),
              title: t("remove_tag", { tag }),
              onclick: () => changeTags([], [tag]),
            }, "×"),
          ),
        )
      : [h("li", { class: "muted" }, t("no_tags"))]),
  );
}

async function changeTags(add, remove) {
  const open = state.open;
  try {
    const answer = await api(`/conversations/${encodeURIComponent(open.id)}/tags`, {
      method: "POST",
      body: { add, remove },
    });
    if (state.open !== open) return;
    open.detail.resident = { ...open.detail.resident, tags: answer.tags };
    renderTags(answer.tags);
  } catch (error) {
    report(error);
  }
}

function submitTag(event) {
  event.preventDefault();
  const input = $("tag-input");
  const tag = input.value.trim().toLowerCase();
  if (!tag) return;
  if (!TAG.test(tag)) return toast(t("tag_invalid"), "error");
  input.value = "";
  changeTags([tag], []);
}

// ---------------------------------------------------------------- composer

function onComposerInput() {
  if (state.mode !== "reply") return closeQuickReplies();
  const area = $("composer-text");
  const before = area.value.slice(0, area.selectionStart);
  const match = before.match(/(?:^|\s)(\/[\p{L}\p{N}_-]*)$/u);
  if (!match) return closeQuickReplies();
  const token = match[1].toLowerCase();
  const items = (state.me.quick_replies || []).filter((reply) => reply.shortcut.toLowerCase().startsWith(token));
  if (!items.length) return closeQuickReplies();
  state.quick = { items, index: 0, token };
  renderQuickReplies();
}

function quickText(reply) {
  const language = residentLanguage();
  return reply.text[language] || reply.text[state.me.default_language] || Object.values(reply.text)[0] || "";
}

function renderQuickReplies() {
  const list = $("quick-replies");
  list.replaceChildren(
    ...state.quick.items.map((reply, index) =>
      h(
        "li",
        {
          id: `quick-${index}`,
          role: "option",
          class: "quick-reply",
          "aria-selected": String(index === state.quick.index),
          onmousedown: (event) => {
            event.preventDefault();
            state.quick.index = index;
            insertQuickReply();
          },
        },
        h("span", { class: "quick-shortcut" }, reply.shortcut),
        h("span", { class: "quick-text" }, h("bdi", {}, quickText(reply))),
      ),
    ),
  );
  list.hidden = false;
  $("composer-text").setAttribute("aria-activedescendant", `quick-${state.quick.index}`);
}

function closeQuickReplies() {
  state.quick = { items: [], index: 0, token: null };
  $("quick-replies").hidden = true;
  $("composer-text").removeAttribute("aria-activedescendant");
}

function insertQuickReply() {
  const reply = state.quick.items[state.quick.index];
  if (!reply) return;
  const area = $("composer-text");
  const caret = area.selectionStart;
  const start = caret - state.quick.token.length;
  const text = quickText(reply);
  area.value = area.value.slice(0, start) + text + area.value.slice(caret);
  area.selectionStart = area.selectionEnd = start + text.length;
  closeQuickReplies();
  area.focus();
}

function onComposerKeydown(event) {
  if (state.quick.items.length) {
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      const step = event.key === "ArrowDown" ? 1 : -1;
      state.quick.index = (state.quick.index + step + state.quick.items.length) % state.quick.items.length;
      renderQuickReplies();
      return;
    }
    if (event.key === "Enter" || event.key === "Tab") {
      event.preventDefault();
      insertQuickReply();
      return;
    }
    if (event.key === "Escape") {
      event.preventDefault();
      event.stopPropagation();
      closeQuickReplies();
      return;
    }
  }
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    $("composer").requestSubmit();
  }
}

function onAttach() {
  const file = $("attach-input").files[0];
  if (!file) return;
  if (file.size > MAX_UPLOAD) {
    $("attach-input").value = "";
    return toast(t("file_too_big"), "error");
  }
  state.attachment = file;
  $("attachment-chip").hidden = false;
  $("attachment-name").replaceChildren(icon("clip"), ` ${file.name} (${unit(Math.ceil(file.size / 1024), "kilobyte")})`);
  $("composer-text").placeholder = t("caption_placeholder");
}

function clearAttachment() {
  state.attachment = null;
  $("attach-input").value = "";
  $("attachment-chip").hidden = true;
}

function readBase64(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result).split(",", 2)[1] || "");
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(file);
  });
}

async function submitComposer(event) {
  event.preventDefault();
  const open = state.open;
  if (!open?.detail) return;
  const text = $("composer-text").value.trim();
  const base = `/conversations/${encodeURIComponent(open.id)}`;
  const button = $("send-button");
  let path;
  let body;
  if (state.mode === "note") {
    if (!text) return $("composer-text").focus();
    [path, body] = [`${base}/notes`, { text }];
  } else if (!open.detail.window_open) {
    const template = $("template-select").value;
    if (!template) return toast(t("choose_template"), "error");
    const params = $("template-params").value.split("\n").map((line) => line.trim()).filter(Boolean);
    [path, body] = [`${base}/messages`, { template, params }];
  } else if (state.attachment) {
    const file = state.attachment;
    body = {
      filename: file.name,
      mime_type: file.type || "application/octet-stream",
      data_base64: await readBase64(file),
    };
    if (text) body.caption = text;
    path = `${base}/attachments`;
  } else {
    if (!text) return $("composer-text").focus();
    [path, body] = [`${base}/messages`, { text }];
  }
  button.disabled = true;
  try {
    const answer = await api(path, { method: "POST", body });
    if (state.open !== open) return;
    addMessages([answer.message]);
    $("composer-text").value = "";
    $("template-params").value = "";
    clearAttachment();
    renderTimeline();
    scrollTimeline(true);
    announce(state.mode === "note" ? t("note_added") : t("reply_queued"));
    setTimeout(() => state.open === open && refreshRecentStatuses(open).catch(() => {}), 1500);
    refreshDetail();
    loadInbox({ quiet: true });
  } catch (error) {
    report(error);
    if (error.code === "window_closed") refreshDetail();
    if (error.code === "changed") refreshDetail();
  } finally {
    button.disabled = false;
    $("composer-text").focus();
  }
}

// ---------------------------------------------------------------- actions

async function act(action, body = undefined, success = "", { mayLeave = false, ownButton = null } = {}) {
  const open = state.open;
  if (!open) return null;
  try {
    const answer = await api(`/conversations/${encodeURIComponent(open.id)}/${action}`, {
      method: "POST",
      body: body ?? {},
    });
    if (state.open !== open) return answer;
    if (answer?.conversation) open.detail.conversation = answer.conversation;
    if (success && mayLeave) toast(success);
    else if (success) announce(success);
    if (state.search.items) runSearch(state.search.query);
    await refreshDetail({ quietlyGone: mayLeave });
    if (ownButton && state.open === open) keepFocusAfter($(ownButton));
    await Promise.allSettled([pollConversation(), loadInbox({ quiet: true })]);
    return answer;
  } catch (error) {
    report(error);
    if (error.code === "changed") refreshDetail();
    return null;
  }
}

function keepFocusAfter(button) {
  // The action hid its own button (Assign to me, Resolve, Reopen): focus would fall to the
  // page's start; the conversation's heading is where the agent was.
  if (!button.hidden) return;
  const active = document.activeElement;
  if (active === button || active === document.body || active === null) $("conversation-name").focus();
}

function takeConversation() {
  return act("assign", { agent_id: state.me.agent.id }, t("assigned_to_you"), { ownButton: "action-take" });
}

function assignableAgents(team) {
  const agents = state.me.agents || [];
  return agents.filter((agent) => (isSupervisor() && !team) || (agent.teams || []).includes(team));
}

function agentOption(agent) {
  const presence = agent.online ? t("available") : t("away");
  const label = `${agent.name || agent.id} — ${presence}`;
  return [agent.id, label];
}

function openAssignDialog() {
  const row = state.open?.detail?.conversation;
  if (!row) return;
  const agents = isSupervisor() ? state.me.agents : assignableAgents(row.team);
  fillSelect($("assign-agent"), agents.map(agentOption), row.assignee || state.me.agent.id);
  $("assign-dialog").showModal();
}

function openTransferDialog() {
  const row = state.open?.detail?.conversation;
  if (!row) return;
  const teams = state.me.teams;
  const other = teams.find((team) => team.id !== row.team) || teams[0];
  fillSelect($("transfer-team"), teams.map((team) => [team.id, team.name]), other?.id);
  fillTransferAgents();
  $("transfer-note").value = "";
  $("transfer-dialog").showModal();
}

function fillTransferAgents() {
  const team = $("transfer-team").value;
  fillSelect($("transfer-agent"), [["", t("team_queue")], ...assignableAgents(team).map(agentOption)], "");
}

function snoozePresets() {
  const now = new Date();
  const inHours = (hours) => new Date(now.getTime() + hours * 3600_000);
  const at = (days, hour) => {
    const date = new Date(now);
    date.setDate(date.getDate() + days);
    date.setHours(hour, 0, 0, 0);
    return date;
  };
  const nextMonday = (8 - now.getDay()) % 7 || 7;
  return [
    [t("snooze_1h"), inHours(1)],
    [t("snooze_3h"), inHours(3)],
    [t("snooze_tomorrow"), at(1, 9)],
    [t("snooze_monday"), at(nextMonday, 9)],
  ];
}

function openSnoozeDialog() {
  if (!state.open?.detail) return;
  const presets = snoozePresets();
  $("snooze-presets").replaceChildren(
    ...presets.map(([label, when]) =>
      h(
        "button",
        {
          type: "button",
          class: "button subtle small",
          title: formatDateTime(when.toISOString()),
          onclick: () => {
            $("snooze-dialog").close();
            snooze(when);
          },
        },
        label,
      ),
    ),
  );
  const input = $("snooze-until");
  input.min = localInputValue(new Date());
  input.value = localInputValue(presets[2][1]);
  $("snooze-dialog").showModal();
}

function snooze(when) {
  return act("snooze", { until: isoWithOffset(when) }, t("snoozed_until", { when: formatDateTime(when.toISOString()) }));
}

function resolveConversation() {
  if (!state.open?.detail || !OPEN_STATUSES.has(state.open.detail.conversation.status)) return;
  return act("resolve", {}, t("resolved_message"), { ownButton: "action-resolve" });
}

function confirmResolve() {
  // A single key must not end a conversation by accident: "e" asks first.
  if (!state.open?.detail || !OPEN_STATUSES.has(state.open.detail.conversation.status)) return;
  $("resolve-dialog").showModal();
}

// ---------------------------------------------------------------- dashboard

function defaultRange() {
  const to = new Date();
  const from = new Date();
  from.setDate(from.getDate() - 6);
  return [isoDate(from), isoDate(to)];
}

function reportQuery() {
  const params = new URLSearchParams({ from: $("report-from").value, to: $("report-to").value });
  if ($("report-team").value) params.set("team", $("report-team").value);
  return params;
}

async function loadReport() {
  if (!$("report-from").value) {
    const [from, to] = defaultRange();
    $("report-from").value = from;
    $("report-to").value = to;
  }
  $("report-error").hidden = true;
  $("report").setAttribute("aria-busy", "true");
  try {
    state.report = await api(`/reports?${reportQuery()}`);
    renderReport(state.report);
  } catch (error) {
    $("report-error").textContent = explain(error);
    $("report-error").hidden = false;
  } finally {
    $("report").setAttribute("aria-busy", "false");
  }
}

function renderReport(data) {
  const totals = data.totals || {};
  const cards = [
    [t("kpi_opened"), formatNumber(totals.opened), null],
    [t("kpi_handed_off"), formatNumber(totals.handed_off), null],
    [t("kpi_resolved"), formatNumber(totals.resolved), null],
    [t("kpi_containment"), formatPercent(data.bot_containment), t("kpi_containment_hint")],
    [
      t("kpi_first_response"),
      totals.first_response_avg_s == null ? "—" : formatDuration(totals.first_response_avg_s),
      totals.first_response_p90_s == null ? null : p90Text(totals.first_response_p90_s),
    ],
    [
      t("kpi_resolution"),
      totals.resolution_avg_s == null ? "—" : formatDuration(totals.resolution_avg_s),
      totals.resolution_p90_s == null ? null : p90Text(totals.resolution_p90_s),
    ],
    [
      t("kpi_sla"),
      formatPercent(totals.sla_compliance),
      t("sla_met_missed", { met: formatNumber(totals.sla_met), missed: formatNumber(totals.sla_missed) }),
    ],
    [
      t("kpi_csat"),
      totals.csat_avg == null ? "—" : `${formatNumber(totals.csat_avg, 1)} / 5`,
      plural("csat_count", totals.csat_count || 0),
    ],
  ];
  const kpis = h(
    "ul",
    { class: "kpis" },
    cards.map(([label, value, hint]) => kpiCard(label, value, { hint })),
  );
  const days = data.days || [];
  const agents = [...(data.agents || [])].sort((a, b) => b.resolved - a.resolved);
  $("report").replaceChildren(
    kpis,
    h(
      "div",
      { class: "charts" },
      h(
        "figure",
        { class: "chart" },
        h("figcaption", {}, t("chart_per_day")),
        dayChart(days),
        legend([
          ["opened", t("kpi_opened")],
          ["handed", t("kpi_handed_off")],
          ["resolved", t("kpi_resolved")],
        ]),
      ),
      h(
        "figure",
        { class: "chart" },
        h("figcaption", {}, t("chart_per_agent")),
        agentChart(agents),
        agents.length
          ? legend([
              ["handed", t("kpi_handed_off")],
              ["resolved", t("kpi_resolved")],
            ])
          : null,
      ),
    ),
    reportTable(t("per_team"), data.teams || [], (row) => teamName(row.key) || row.label),
    reportTable(t("per_agent"), agents, (row) => row.label || agentName(row.key)),
    dayTable(days),
  );
}

function legend(items) {
  return h(
    "ul",
    { class: "legend" },
    items.map(([key, label]) => h("li", {}, h("span", { class: `swatch swatch-${key}`, "aria-hidden": "true" }), label)),
  );
}

function dayChart(days) {
  const width = 640;
  const height = 220;
  const pad = { top: 12, bottom: 28, side: 34 };
  const max = Math.max(1, ...days.flatMap((d) => [d.opened, d.resolved, d.handed_off]));
  const plotWidth = width - pad.side * 2;
  const slot = plotWidth / Math.max(1, days.length);
  const bar = Math.max(2, Math.min(14, (slot - 6) / 3));
  const rtl = document.documentElement.dir === "rtl";
  const y = (value) => pad.top + (height - pad.top - pad.bottom) * (1 - value / max);
  const children = [];
  const ticks = niceTicks(max);
  for (const tick of ticks) {
    children.push(svg("line", { x1: pad.side, x2: width - pad.side, y1: y(tick), y2: y(tick), class: "grid" }));
    children.push(svg("text", { x: rtl ? width - pad.side + 6 : pad.side - 6, y: y(tick) + 4, class: "axis", "text-anchor": rtl ? "start" : "end", text: formatNumber(tick) }));
  }
  const labelEvery = Math.ceil(days.length / 10);
  days.forEach((day, index) => {
    const position = rtl ? days.length - 1 - index : index;
    const center = pad.side + slot * position + slot / 2;
    const series = [
      ["opened", day.opened],
      ["handed", day.handed_off],
      ["resolved", day.resolved],
    ];
    series.forEach(([key, value], n) => {
      const x = center + (n - 1.5) * bar;
      children.push(
        svg("rect", { x, y: y(value), width: bar - 1, height: Math.max(0, y(0) - y(value)), class: `bar bar-${key}` },
          svg("title", { text: `${formatDay(day.day)} · ${value}` })),
      );
    });
    if (index % labelEvery === 0)
      children.push(svg("text", { x: center, y: height - 8, class: "axis", "text-anchor": "middle", text: formatDay(day.day, { day: "numeric", month: "short" }) }));
  });
  const summary = days.map((d) => `${formatDay(d.day)}: ${d.opened}/${d.handed_off}/${d.resolved}`).join("; ");
  return svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": `${t("chart_per_day")}. ${summary}`, class: "chart-svg" }, children);
}

function niceTicks(max) {
  const step = Math.max(1, Math.ceil(max / 4));
  const ticks = [];
  for (let value = 0; value <= max; value += step) ticks.push(value);
  return ticks;
}

function kpiCard(label, value, { hint = null, key = null } = {}) {
  return h(
    "li",
    { class: "kpi", dataset: key ? { key } : null },
    h("span", { class: "kpi-label" }, label),
    h("span", { class: "kpi-value" }, value),
    hint ? h("span", { class: "kpi-hint" }, hint) : null,
  );
}

function agentChart(agents) {
  if (!agents.length) return h("p", { class: "muted" }, t("no_data"));
  const rowHeight = 34;
  const width = 640;
  const labelWidth = 170;
  const height = agents.length * rowHeight + 6;
  const max = Math.max(1, ...agents.flatMap((a) => [a.handed_off, a.resolved]));
  const rtl = document.documentElement.dir === "rtl";
  const plot = width - labelWidth - 56;
  const children = [];
  agents.forEach((agent, index) => {
    const top = index * rowHeight + 4;
    const name = agent.label || agentName(agent.key);
    children.push(svg("text", { x: rtl ? width - labelWidth + 8 : labelWidth - 8, y: top + 17, "text-anchor": rtl ? "start" : "end", class: "axis label", text: name }));
    [
      ["handed", agent.handed_off, t("kpi_handed_off")],
      ["resolved", agent.resolved, t("kpi_resolved")],
    ].forEach(([key, value, label], n) => {
      const length = Math.max(1, (plot * value) / max);
      const y = top + 3 + n * 13;
      const x = rtl ? width - labelWidth - length : labelWidth;
      children.push(svg("rect", { x, y, width: length, height: 11, rx: 2, class: `bar bar-${key}` }, svg("title", { text: `${name} · ${label}: ${value}` })));
      children.push(svg("text", { x: rtl ? x - 6 : x + length + 6, y: y + 10, "text-anchor": rtl ? "end" : "start", class: "axis", text: formatNumber(value) }));
    });
  });
  const summary = agents.map((a) => `${a.label || agentName(a.key)}: ${a.handed_off} / ${a.resolved}`).join("; ");
  return svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": `${t("chart_per_agent")}. ${summary}`, class: "chart-svg" }, children);
}

function reportTable(title, rows, name) {
  const head = [
    t("col_name"),
    t("kpi_opened"),
    t("kpi_handed_off"),
    t("kpi_resolved"),
    t("col_first_response"),
    t("col_resolution"),
    t("kpi_sla"),
    t("kpi_csat"),
  ];
  return h(
    "section",
    { class: "report-table" },
    h("h2", {}, title),
    rows.length
      ? h(
          "div",
          { class: "table-scroll", tabindex: "0", role: "region", "aria-label": title },
          h(
            "table",
            {},
            h("thead", {}, h("tr", {}, head.map((label, index) => h("th", { scope: "col", class: index ? "num" : null }, label)))),
            h(
              "tbody",
              {},
              rows.map((row) =>
                h(
                  "tr",
                  {},
                  h("th", { scope: "row" }, name(row)),
                  h("td", { class: "num" }, formatNumber(row.opened)),
                  h("td", { class: "num" }, formatNumber(row.handed_off)),
                  h("td", { class: "num" }, formatNumber(row.resolved)),
                  h("td", { class: "num" }, durationPair(row.first_response_avg_s, row.first_response_p90_s)),
                  h("td", { class: "num" }, durationPair(row.resolution_avg_s, row.resolution_p90_s)),
                  h("td", { class: "num" }, formatPercent(row.sla_compliance)),
                  h("td", { class: "num" }, row.csat_avg == null ? "—" : `${formatNumber(row.csat_avg, 1)} (${formatNumber(row.csat_count)})`),
                ),
              ),
            ),
          ),
        )
      : h("p", { class: "muted" }, t("no_data")),
  );
}

function durationPair(average, p90) {
  if (average == null) return "—";
  return p90 == null ? formatDuration(average) : `${formatDuration(average)} · ${p90Text(p90)}`;
}

function p90Text(seconds) {
  return t("p90", { percent: formatPercent(90), value: formatDuration(seconds) });
}

function dayTable(days) {
  return h(
    "details",
    { class: "report-table" },
    h("summary", {}, t("per_day_table")),
    h(
      "div",
      { class: "table-scroll" },
      h(
        "table",
        {},
        h("thead", {}, h("tr", {}, [t("col_day"), t("kpi_opened"), t("kpi_handed_off"), t("kpi_resolved")].map((label, index) => h("th", { scope: "col", class: index ? "num" : null }, label)))),
        h("tbody", {}, days.map((day) => h("tr", {}, h("th", { scope: "row" }, formatDay(day.day)), h("td", { class: "num" }, formatNumber(day.opened)), h("td", { class: "num" }, formatNumber(day.handed_off)), h("td", { class: "num" }, formatNumber(day.resolved))))),
      ),
    ),
  );
}

async function downloadCsv(event) {
  event.preventDefault();
  try {
    const response = await api(`/reports/csv?${reportQuery()}`, { raw: true });
    saveBlob(await response.blob(), `civicchat-report-${$("report-from").value}-${$("report-to").value}.csv`);
  } catch (error) {
    report(error);
  }
}

// ---------------------------------------------------------------- broadcasts (supervisors)

// A template message to every resident subscribed to a topic (and matching the optional
// languages, tags and details), now or at a set time. The server keeps the pace (the
// portfolio's daily limit) and the counters; the console shows them and polls while it sends.

function money(value, currency, { precise = false } = {}) {
  if (value === null || value === undefined) return "—";
  try {
    return new Intl.NumberFormat(locale(), {
      style: "currency",
      currency: currency || "EUR",
      ...(precise ? { maximumFractionDigits: 4 } : {}),
    }).format(value);
  } catch {
    return `${formatNumber(value, 4)} ${currency || ""}`.trim();
  }
}

function topicLabel(id) {
  // The options name each topic in the town's default language.
  const topic = state.broadcasts.options?.topics?.find((item) => item.id === id);
  return topic?.label || id || "—";
}

function categoryName(category) {
  if (!category) return "—";
  return has(`category_${category}`) ? t(`category_${category}`) : category;
}

function broadcastStatus(status) {
  return h("span", { class: `chip chip-broadcast chip-broadcast-${status}` }, t(`broadcast_status_${status}`));
}

function actorName(actor) {
  // "agent:<id>", "apikey:<name>", "cli:<user>", "system:<job>" (a bare id is an agent's).
  if (!actor) return "—";
  const [kind, ...rest] = String(actor).split(":");
  const who = rest.join(":");
  if (!who) return agentName(kind);
  if (kind === "agent") return agentName(who);
  if (kind === "apikey") return t("actor_apikey", { name: who });
  if (kind === "cli") return t("actor_cli", { user: who });
  if (kind === "system") return t("actor_system", { job: who });
  return actor;
}

function factList(pairs) {
  // fillFacts' terms and values in a list of their own; null pairs are left out.
  return h("dl", { class: "facts" }, factNodes(pairs.filter(Boolean)));
}

function fill(parent, ...children) {
  // replaceChildren, leaving out what is not there (null would be written as "null").
  parent.replaceChildren(...children.flat().filter((child) => child !== null && child !== undefined && child !== false));
}

function tNodes(key, nodes) {
  // A translated sentence with elements in it (a phone number that must read left to right).
  return t(key)
    .split(/(\{\w+\})/)
    .filter(Boolean)
    .map((part) => {
      const name = part.match(/^\{(\w+)\}$/)?.[1];
      return name && name in nodes ? nodes[name] : part;
    });
}

function saveBlob(blob, filename) {
  const url = URL.createObjectURL(blob);
  const link = h("a", { href: url, download: filename });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

function filenameFrom(disposition) {
  const match = (disposition || "").match(/filename\*?=(?:UTF-8'')?"?([^";]+)"?/i);
  return match ? decodeURIComponent(match[1]).replace(/[\\/]/g, "_") : null;
}

async function ensureBroadcastOptions({ fresh = false } = {}) {
  const b = state.broadcasts;
  if (!b.options || fresh) b.options = await api("/broadcasts/options");
  return b.options;
}

async function showBroadcasts(id) {
  const b = state.broadcasts;
  stopBroadcastPolling();
  if (id === "new") {
    b.view = "form";
    b.id = null;
  } else if (id) {
    if (b.id !== id) b.detail = null;
    b.view = "detail";
    b.id = id;
  } else {
    b.view = "list";
    b.id = null;
  }
  $("broadcast-list-view").hidden = b.view !== "list";
  $("broadcast-form-view").hidden = b.view !== "form";
  $("broadcast-detail-view").hidden = b.view !== "detail";
  if (b.view === "form") return openBroadcastForm();
  if (b.view === "detail") {
    renderBroadcastDetail();
    $("broadcast-detail-heading").focus();
    return loadBroadcast(id);
  }
  renderBroadcastList();
  return loadBroadcasts();
}

function renderBroadcastsPage() {
  // Again in another language; what the supervisor typed stays.
  const b = state.broadcasts;
  if (b.view === "list") renderBroadcastList();
  if (b.view === "detail") renderBroadcastDetail();
  if (b.view === "form") {
    fillBroadcastOptions();
    renderParams();
    renderCustomFields();
    renderPreview();
    if (b.preview && !b.preview.answer) queuePreview(0); // its hint or refusal, in the new language
  }
}

function scheduleBroadcastPoll(delay = BROADCAST_POLL_MS) {
  const b = state.broadcasts;
  clearTimeout(b.timer);
  b.timer = null;
  if (!state.me || state.page !== "broadcasts" || document.hidden) return;
  b.timer = setTimeout(pollBroadcasts, delay);
}

function stopBroadcastPolling() {
  clearTimeout(state.broadcasts.timer);
  state.broadcasts.timer = null;
}

function pollBroadcasts() {
  const b = state.broadcasts;
  if (b.view === "detail" && b.id) return loadBroadcast(b.id, { quiet: true });
  if (b.view === "list") return loadBroadcasts({ quiet: true });
  return null;
}

// --- the list

async function loadBroadcasts({ quiet = false } = {}) {
  const list = $("broadcast-list");
  if (!quiet) list.setAttribute("aria-busy", "true");
  $("broadcast-list-error").hidden = true;
  ensureBroadcastOptions()
    .then(() => state.page === "broadcasts" && state.broadcasts.view === "list" && renderBroadcastList())
    .catch(() => {}); // topics then show by their id
  try {
    const answer = await api("/broadcasts");
    if (state.page !== "broadcasts" || state.broadcasts.view !== "list") return;
    state.broadcasts.items = answer.broadcasts || [];
    renderBroadcastList();
    if (state.broadcasts.items.some((item) => LIVE_BROADCASTS.has(item.status))) scheduleBroadcastPoll();
  } catch (error) {
    if (quiet) return scheduleBroadcastPoll();
    $("broadcast-list-error").textContent = explain(error);
    $("broadcast-list-error").hidden = false;
  } finally {
    list.setAttribute("aria-busy", "false");
  }
}

function broadcastWhen(item) {
  if (item.status === "scheduled") return [t("broadcast_send_at"), item.send_at || item.created_at];
  if (item.status === "running") return [t("broadcast_started_at"), item.started_at || item.send_at];
  return [t("broadcast_finished_at"), item.finished_at || item.started_at || item.created_at];
}

function broadcastDone(item) {
  const progress = item.progress || {};
  const audience = progress.audience || item.estimate?.audience || 0;
  // Done: no longer queued (sent, delivered, read, failed or skipped). Scheduled: nothing yet.
  const done = item.status === "scheduled" ? 0 : Math.max(0, audience - (progress.queued || 0));
  return [done, audience];
}

function scrollTable(label, className, head, rows) {
  // A wide table that scrolls sideways on its own (a named region, so keyboards can scroll it).
  return h(
    "div",
    { class: "table-scroll", tabindex: "0", role: "region", "aria-label": label },
    h(
      "table",
      { class: className },
      h("thead", {}, h("tr", {}, head.map((text) => h("th", { scope: "col" }, text)))),
      h("tbody", {}, rows),
    ),
  );
}

function renderBroadcastList() {
  const items = state.broadcasts.items;
  const box = $("broadcast-list");
  if (items === null) return box.replaceChildren(h("p", { class: "hint" }, t("loading")));
  if (!items.length) return box.replaceChildren(h("p", { class: "muted" }, t("no_broadcasts")));
  const focusedId = box.contains(document.activeElement) ? document.activeElement.dataset.id : null;
  const head = [t("col_name"), t("status"), t("progress"), t("topic"), t("when"), t("created_by")];
  box.replaceChildren(
    scrollTable(
      t("broadcasts"),
      "broadcast-table",
      head,
      items.map((item) => {
        const [done, audience] = broadcastDone(item);
        const [, at] = broadcastWhen(item);
        return h(
          "tr",
          { dataset: { id: item.id } },
          h("th", { scope: "row" }, h("a", { href: `#/broadcasts/${encodeURIComponent(item.id)}`, dataset: { id: item.id } }, h("bdi", {}, item.name))),
          h("td", {}, broadcastStatus(item.status)),
          h(
            "td",
            { class: "progress-cell" },
            h("progress", { max: Math.max(1, audience), value: done, "aria-label": t("progress_of", { name: item.name }) }),
            " ",
            h("span", { class: "num" }, t("done_of", { done: formatNumber(done), audience: formatNumber(audience) })),
          ),
          h("td", {}, h("bdi", {}, topicLabel(item.segment?.topic))),
          h("td", {}, h("time", { datetime: at }, formatDateTime(at))),
          h("td", {}, actorName(item.created_by)),
        );
      }),
    ),
  );
  if (focusedId) box.querySelector(`a[data-id="${CSS.escape(focusedId)}"]`)?.focus({ preventScroll: true });
}

// --- one broadcast

async function loadBroadcast(id, { quiet = false } = {}) {
  const box = $("broadcast-detail");
  if (!quiet) box.setAttribute("aria-busy", "true");
  if (!state.broadcasts.options)
    ensureBroadcastOptions()
      .then(() => state.broadcasts.id === id && renderBroadcastDetail())
      .catch(() => {});
  try {
    const broadcast = await api(`/broadcasts/${encodeURIComponent(id)}`);
    if (state.page !== "broadcasts" || state.broadcasts.id !== id) return;
    const before = state.broadcasts.detail;
    state.broadcasts.detail = broadcast;
    renderBroadcastDetail();
    if (before && before.status !== broadcast.status)
      announce(t(`broadcast_now_${broadcast.status}`));
    // Every 3 s while messages are on their way or it is about to start; else (due later,
    // waiting for the daily limit, cancelled and awaiting its report) every 30 s.
    const later = broadcast.status === "scheduled" && Date.parse(broadcast.send_at) - Date.now() > 120_000;
    const idle = later || (broadcast.status !== "scheduled" && !(broadcast.progress?.queued > 0));
    if (LIVE_BROADCASTS.has(broadcast.status) || !broadcast.report)
      scheduleBroadcastPoll(idle ? 10 * BROADCAST_POLL_MS : BROADCAST_POLL_MS);
  } catch (error) {
    if (state.broadcasts.id !== id) return;
    if (quiet && error.status !== 404 && error.status !== 403) return scheduleBroadcastPoll();
    report(error);
    if (error.status === 404 || error.status === 403) location.hash = "#/broadcasts";
  } finally {
    box.setAttribute("aria-busy", "false");
  }
}

function paramsText(params) {
  if (!params || (Array.isArray(params) && !params.length)) return null;
  if (Array.isArray(params)) return params.join(" · ");
  return Object.entries(params)
    .map(([lang, values]) => `${languageName(lang)}: ${(values || []).join(" · ")}`)
    .join(" — ");
}

function renderBroadcastDetail() {
  const item = state.broadcasts.detail;
  const heading = $("broadcast-detail-heading");
  const box = $("broadcast-detail");
  $("broadcast-cancel").hidden = !item || !LIVE_BROADCASTS.has(item.status);
  if (!item) {
    heading.textContent = t("loading");
    box.replaceChildren();
    return;
  }
  heading.replaceChildren(h("bdi", {}, item.name));
  const segment = item.segment || {};
  const fields = Object.entries(segment.custom_fields || {});
  const [whenLabel, at] = broadcastWhen(item);
  const estimate = item.estimate || {};
  const params = paramsText(item.params);
  const facts = factList([
    [t("status"), broadcastStatus(item.status)],
    [t("template"), `${item.template} · ${categoryName(item.category)}`],
    params ? [t("broadcast_params"), params] : null,
    [t("topic"), topicLabel(segment.topic)],
    [t("languages"), segment.languages?.length ? segment.languages.map(languageName).join(", ") : t("all_languages")],
    segment.tags?.length ? [t("tags"), segment.tags.join(", ")] : null,
    fields.length ? [t("custom_fields"), fields.map(([key, value]) => `${key} = ${value}`).join(", ")] : null,
    [whenLabel, h("time", { datetime: at }, formatDateTime(at))],
    [t("created_by"), h("span", {}, h("bdi", {}, actorName(item.created_by)), " · ", h("bdi", {}, formatDateTime(item.created_at)))],
    item.cancelled_by ? [t("cancelled_by"), cancelledText(item)] : null,
    [t("estimate"), `${plural("residents", estimate.audience ?? 0)} · ${money(estimate.estimated_cost, estimate.currency)}`],
  ]);
  fill(box,
    h("section", { class: "report-table broadcast-facts", "aria-label": t("broadcast_about") }, facts),
    progressSection(item),
    item.report ? reportSection(item.report) : null,
  );
}

function cancelledText(item) {
  // By whom; and why, when the job cancelled it (its template may no longer be sent).
  const reason = item.cancel_reason;
  if (!reason) return actorName(item.cancelled_by);
  const why = has(`cancel_reason_${reason}`) ? t(`cancel_reason_${reason}`) : reason.replaceAll("_", " ");
  return `${actorName(item.cancelled_by)} · ${why}`;
}

function progressSection(item) {
  const progress = item.progress || {};
  const [done, audience] = broadcastDone(item);
  const max = Math.max(1, audience);
  const share = (value) => formatPercent(audience ? (100 * value) / audience : 0);
  return h(
    "section",
    { class: "report-table", id: "broadcast-progress", "aria-labelledby": "broadcast-progress-heading" },
    h("h2", { id: "broadcast-progress-heading" }, t("progress")),
    h(
      "p",
      { class: "progress-summary" },
      item.status === "scheduled"
        ? t("progress_scheduled", { when: formatDateTime(item.send_at) })
        : t("done_of_long", { done: formatNumber(done), audience: formatNumber(audience), percent: share(done) }),
    ),
    h(
      "ul",
      { class: "progress-list" },
      PROGRESS_KEYS.map((key) =>
        h(
          "li",
          { class: `progress-row progress-${key}`, dataset: { key } },
          h("span", { class: "progress-label", id: `progress-label-${key}` }, t(`progress_${key}`)),
          h("progress", { max, value: progress[key] || 0, "aria-labelledby": `progress-label-${key}` }),
          h("span", { class: "progress-count num" }, formatNumber(progress[key] || 0)),
          h("span", { class: "progress-share num" }, share(progress[key] || 0)),
        ),
      ),
    ),
  );
}

// What the report counts failures and skips by (domain/broadcasts.py, send_queued_message.py):
// WhatsApp's error codes, "unknown" when none was recorded, "unknown_outcome" for a sender that
// stopped mid-send; skips are "cancelled", "opted_out" or "unknown".
function failReason(code) {
  return has(`fail_reason_${code}`) ? t(`fail_reason_${code}`) : t("error_code", { code });
}

function skipReason(reason) {
  return has(`skip_reason_${reason}`) ? t(`skip_reason_${reason}`) : reason.replaceAll("_", " ");
}

function countRows(counts, label) {
  // A table body of [name, count] pairs, each name as `label` writes it.
  return h(
    "tbody",
    {},
    counts.map(([key, count]) => h("tr", {}, h("th", { scope: "row" }, label(key)), h("td", { class: "num" }, formatNumber(count)))),
  );
}

function nonZero(counts) {
  return Object.entries(counts || {}).filter(([, count]) => count);
}

function countTable(title, counts, label) {
  const rows = nonZero(counts).sort((a, b) => b[1] - a[1]);
  return h(
    "div",
    { class: "count-table" },
    h("h3", {}, title),
    rows.length ? h("table", {}, countRows(rows, label)) : h("p", { class: "muted" }, t("none")),
  );
}

function reportSection(data) {
  const cards = [
    ["reached", t("report_reached"), formatNumber(data.reached)],
    ...["delivered", "read", "failed"].map((key) => [key, t(`progress_${key}`), formatNumber(data[key])]),
    ["cost", t("report_cost"), money(data.cost, data.currency)],
  ];
  return h(
    "section",
    { class: "report-table", id: "broadcast-report", "aria-labelledby": "broadcast-report-heading" },
    h("h2", { id: "broadcast-report-heading" }, t("final_report")),
    h(
      "ul",
      { class: "kpis kpis-5" },
      cards.map(([key, label, value]) => kpiCard(label, value, { key })),
    ),
    h(
      "div",
      { class: "count-tables" },
      countTable(t("failed_by_error"), data.failed_by_error, failReason),
      countTable(t("skipped_by_reason"), data.skipped_by_reason, skipReason),
    ),
  );
}

async function cancelBroadcast() {
  const id = state.broadcasts.id;
  if (!id) return;
  try {
    const answer = await api(`/broadcasts/${encodeURIComponent(id)}/cancel`, { method: "POST", body: {} });
    if (state.broadcasts.id !== id) return;
    state.broadcasts.detail = answer;
    renderBroadcastDetail();
    toast(t("broadcast_now_cancelled"));
  } catch (error) {
    if (error.status === 409) toast(t("broadcast_already_over"), "error");
    else report(error);
    loadBroadcast(id, { quiet: true });
  } finally {
    if ($("broadcast-cancel").hidden) $("broadcast-detail-heading").focus();
  }
}

// --- a new broadcast

function newDraft() {
  return { params: [{ common: "", by: {} }], fields: [{ key: "", value: "" }] };
}

function resetBroadcastForm() {
  state.broadcasts.draft = newDraft();
  state.broadcasts.preview = null;
  $("broadcast-form").reset();
  renderWhen();
}

async function openBroadcastForm() {
  const b = state.broadcasts;
  if (!b.draft) resetBroadcastForm();
  renderParams();
  renderCustomFields();
  renderPreview();
  $("broadcast-form-heading").focus();
  try {
    await ensureBroadcastOptions({ fresh: true });
  } catch (error) {
    report(error);
    return;
  }
  if (state.page !== "broadcasts" || b.view !== "form") return;
  fillBroadcastOptions();
  renderParams();
  queuePreview(0);
}

function fillBroadcastOptions() {
  const options = state.broadcasts.options;
  if (!options) return;
  const template = $("broadcast-template");
  const chosenTemplate = template.value;
  template.replaceChildren(
    h("option", { value: "" }, t("choose_template_option")),
    ...(options.templates || []).map((item) => {
      const label = `${item.name} · ${categoryName(item.category)}`;
      return h(
        "option",
        { value: item.name, disabled: !item.allowed },
        item.allowed ? label : `${label} — ${t("template_disallowed")}${item.why ? `: ${item.why}` : ""}`,
      );
    }),
  );
  if ((options.templates || []).some((item) => item.name === chosenTemplate && item.allowed)) template.value = chosenTemplate;

  const topics = options.topics || [];
  fillSelect(
    $("broadcast-topic"),
    [["", topics.length ? t("choose_topic_option") : t("no_topics")], ...topics.map((item) => [item.id, item.label || item.id])],
    $("broadcast-topic").value,
  );

  const box = $("broadcast-languages");
  const ticked = new Set([...box.querySelectorAll("input:checked")].map((input) => input.value));
  box.replaceChildren(
    ...(options.languages || []).map((code) =>
      h(
        "label",
        { class: "check" },
        h("input", { type: "checkbox", name: "broadcast-language", value: code, checked: ticked.has(code) }),
        h("span", {}, languageName(code)),
      ),
    ),
  );
  renderTemplateHint();
}

function chosenTemplate() {
  const name = $("broadcast-template").value;
  return state.broadcasts.options?.templates?.find((item) => item.name === name) || null;
}

function renderTemplateHint() {
  const template = chosenTemplate();
  const disallowed = (state.broadcasts.options?.templates || []).filter((item) => !item.allowed);
  const parts = [];
  if (template) parts.push(t("template_languages", { languages: (template.languages || []).map(languageName).join(", ") }));
  if (disallowed.length) parts.push(plural("templates_disallowed", disallowed.length));
  $("broadcast-template-hint").textContent = parts.join(" ");
}

function tickedLanguages() {
  return [...document.querySelectorAll("#broadcast-languages input:checked")].map((input) => input.value);
}

function paramLanguages() {
  const template = chosenTemplate();
  const ticked = tickedLanguages();
  let languages = template?.languages?.length ? template.languages : state.broadcasts.options?.languages || [];
  if (ticked.length) languages = languages.filter((code) => ticked.includes(code));
  return languages;
}

function renderParams() {
  const draft = state.broadcasts.draft;
  if (!draft) return;
  const perLanguage = $("broadcast-per-language").checked;
  const languages = paramLanguages();
  $("broadcast-params").replaceChildren(
    ...draft.params.map((param, index) => {
      const n = index + 1;
      const id = `broadcast-param-${index}`;
      return h(
        "li",
        { class: "param-row" },
        h(
          "div",
          { class: "field" },
          h("label", { for: id }, t("param_n", { n: formatNumber(n) })),
          h(
            "div",
            { class: "input-with-button" },
            h("input", {
              id,
              type: "text",
              value: param.common,
              autocomplete: "off",
              oninput: (event) => (param.common = event.target.value),
            }),
            h(
              "button",
              {
                type: "button",
                class: "button subtle small",
                "aria-label": t("remove_param", { n: formatNumber(n) }),
                onclick: () => removeParam(index),
              },
              t("remove"),
            ),
          ),
        ),
        perLanguage
          ? h(
              "div",
              { class: "param-languages" },
              languages.map((code) =>
                h(
                  "div",
                  { class: "field" },
                  h("label", { for: `${id}-${code}` }, t("param_n_in", { n: formatNumber(n), language: languageName(code) })),
                  h("input", {
                    id: `${id}-${code}`,
                    type: "text",
                    lang: code,
                    dir: "auto",
                    value: param.by[code] || "",
                    placeholder: param.common || t("same_as_above"),
                    autocomplete: "off",
                    oninput: (event) => (param.by[code] = event.target.value),
                  }),
                ),
              ),
            )
          : null,
      );
    }),
  );
}

function addParam() {
  const draft = state.broadcasts.draft;
  draft.params.push({ common: "", by: {} });
  renderParams();
  $(`broadcast-param-${draft.params.length - 1}`).focus();
}

function removeParam(index) {
  const draft = state.broadcasts.draft;
  draft.params.splice(index, 1);
  renderParams();
  const next = $(`broadcast-param-${Math.min(index, draft.params.length - 1)}`);
  (next || $("broadcast-param-add")).focus();
}

function renderCustomFields() {
  const draft = state.broadcasts.draft;
  if (!draft) return;
  $("broadcast-fields").replaceChildren(
    ...draft.fields.map((field, index) => {
      const n = formatNumber(index + 1);
      const keyId = `broadcast-field-key-${index}`;
      const valueId = `broadcast-field-value-${index}`;
      return h(
        "li",
        { class: "field-pair" },
        h(
          "div",
          { class: "field" },
          h("label", { for: keyId }, t("custom_field_name", { n })),
          h("input", {
            id: keyId,
            type: "text",
            value: field.key,
            placeholder: t("custom_field_example"),
            autocomplete: "off",
            oninput: (event) => {
              field.key = event.target.value;
              queuePreview();
            },
          }),
        ),
        h("span", { class: "equals", "aria-hidden": "true" }, "="),
        h(
          "div",
          { class: "field" },
          h("label", { for: valueId }, t("custom_field_value", { n })),
          h("input", {
            id: valueId,
            type: "text",
            value: field.value,
            dir: "auto",
            autocomplete: "off",
            oninput: (event) => {
              field.value = event.target.value;
              queuePreview();
            },
          }),
        ),
        h(
          "button",
          {
            type: "button",
            class: "button subtle small",
            "aria-label": t("remove_custom_field", { n }),
            onclick: () => removeCustomField(index),
          },
          t("remove"),
        ),
      );
    }),
  );
}

function addCustomField() {
  const draft = state.broadcasts.draft;
  draft.fields.push({ key: "", value: "" });
  renderCustomFields();
  $(`broadcast-field-key-${draft.fields.length - 1}`).focus();
}

function removeCustomField(index) {
  const draft = state.broadcasts.draft;
  draft.fields.splice(index, 1);
  renderCustomFields();
  queuePreview();
  const next = $(`broadcast-field-key-${Math.min(index, draft.fields.length - 1)}`);
  (next || $("broadcast-field-add")).focus();
}

function renderWhen() {
  const later = document.querySelector('input[name="broadcast-when"]:checked')?.value === "later";
  $("broadcast-at-field").hidden = !later;
  const input = $("broadcast-at");
  input.min = localInputValue(new Date());
  if (later && !input.value) {
    const soon = new Date(Date.now() + 3600_000);
    soon.setMinutes(0, 0, 0);
    input.value = localInputValue(soon);
  }
}

function parseTags() {
  return $("broadcast-tags")
    .value.split(",")
    .map((tag) => tag.trim().toLowerCase())
    .filter(Boolean);
}

function segmentBody() {
  // The segment as the API takes it, or {problem, focus} when something is missing or wrong.
  const body = { template: $("broadcast-template").value, topic: $("broadcast-topic").value };
  if (!body.template) return { problem: t("choose_template"), focus: "broadcast-template" };
  if (!body.topic) return { problem: t("choose_topic"), focus: "broadcast-topic" };
  const languages = tickedLanguages();
  if (languages.length) body.languages = languages;
  const tags = parseTags();
  if (tags.some((tag) => !TAG.test(tag))) return { problem: t("tag_invalid"), focus: "broadcast-tags" };
  if (tags.length) body.tags = tags;
  const fields = {};
  for (const [index, field] of state.broadcasts.draft.fields.entries()) {
    const key = field.key.trim();
    const value = field.value.trim();
    if (!key && !value) continue;
    if (!key) return { problem: t("custom_field_unnamed"), focus: `broadcast-field-key-${index}` };
    fields[key] = value;
  }
  if (Object.keys(fields).length) body.custom_fields = fields;
  return { body };
}

function paramsBody() {
  // One list for every language, or one per language when some language has its own text
  // (the others take the common one).
  // Empty rows at the end are left out (an "add parameter" clicked once too often).
  const blank = (param) => !param.common.trim() && !Object.values(param.by || {}).some((value) => (value || "").trim());
  let end = state.broadcasts.draft.params.length;
  while (end > 0 && blank(state.broadcasts.draft.params[end - 1])) end -= 1;
  const params = state.broadcasts.draft.params.slice(0, end);
  const common = params.map((param) => param.common.trim());
  const perLanguage = $("broadcast-per-language").checked;
  const languages = paramLanguages();
  const own = perLanguage && params.some((param) => languages.some((code) => (param.by[code] || "").trim()));
  if (!own) return { params: common };
  const byLanguage = {};
  for (const code of languages)
    byLanguage[code] = params.map((param, index) => (param.by[code] || "").trim() || common[index]);
  const missing = Object.values(byLanguage).some((values) => values.some((value) => !value));
  return missing ? { problem: t("param_missing"), focus: "broadcast-param-0" } : { params: byLanguage };
}

function queuePreview(delay = PREVIEW_DELAY_MS) {
  clearTimeout(state.broadcasts.previewTimer);
  state.broadcasts.previewTimer = setTimeout(runPreview, delay);
}

async function runPreview() {
  const b = state.broadcasts;
  if (state.page !== "broadcasts" || b.view !== "form" || !b.options) return;
  const request = ++b.previewRequest;
  const segment = segmentBody();
  if (segment.problem) {
    b.preview = { hint: segment.focus === "broadcast-template" || segment.focus === "broadcast-topic" ? t("preview_needs") : segment.problem };
    return renderPreview();
  }
  $("broadcast-preview").setAttribute("aria-busy", "true");
  try {
    const answer = await api("/broadcasts/preview", { method: "POST", body: segment.body });
    if (request !== b.previewRequest) return;
    const before = b.preview?.answer;
    b.preview = { answer };
    if (!before || before.audience !== answer.audience || before.estimated_cost !== answer.estimated_cost)
      announce(previewSentence(answer));
  } catch (error) {
    if (request !== b.previewRequest) return;
    b.preview = { error: explainBroadcast(error) };
  } finally {
    if (request === b.previewRequest) {
      $("broadcast-preview").setAttribute("aria-busy", "false");
      renderPreview();
    }
  }
}

function previewSentence(answer) {
  return `${plural("residents", answer.audience)} · ${t("estimated_cost_is", { cost: money(answer.estimated_cost, answer.currency) })}`;
}

function renderPreview() {
  const preview = state.broadcasts.preview;
  const box = $("broadcast-preview");
  if (!preview) return box.replaceChildren(h("p", { class: "hint" }, t("preview_needs")));
  if (preview.hint) return box.replaceChildren(h("p", { class: "hint" }, preview.hint));
  if (preview.error) return box.replaceChildren(h("p", { class: "notice" }, preview.error));
  const answer = preview.answer;
  const byLanguage = nonZero(answer.by_language);
  fill(box,
    h(
      "dl",
      { class: "preview-numbers" },
      h("div", { class: "kpi", dataset: { key: "audience" } }, h("dt", { class: "kpi-label" }, t("audience")), h("dd", { class: "kpi-value", id: "preview-audience" }, formatNumber(answer.audience))),
      h("div", { class: "kpi", dataset: { key: "cost" } }, h("dt", { class: "kpi-label" }, t("estimated_cost")), h("dd", { class: "kpi-value", id: "preview-cost" }, money(answer.estimated_cost, answer.currency))),
    ),
    h("p", { class: "hint" }, t("price_per_message", { price: money(answer.price_per_message, answer.currency, { precise: true }), category: categoryName(answer.category) })),
    byLanguage.length
      ? h(
          "table",
          { class: "by-language" },
          h("caption", {}, t("by_language")),
          countRows(byLanguage, languageName),
        )
      : null,
    answer.audience === 0 ? h("p", { class: "notice-warn" }, t("audience_empty")) : null,
    answer.days_needed > 1
      ? h("p", { class: "notice-warn" }, plural("days_needed", answer.days_needed, { limit: formatNumber(answer.daily_limit) }))
      : h("p", { class: "hint" }, t("daily_limit_is", { limit: formatNumber(answer.daily_limit) })),
  );
}

const BROADCAST_FIELDS = {
  name: "broadcast-name",
  template: "broadcast-template",
  topic: "broadcast-topic",
  tags: "broadcast-tags",
  send_at: "broadcast-at",
  params: "broadcast-param-0",
  custom_fields: "broadcast-field-key-0",
};

function fieldOf(error) {
  return (error?.field || "").split(/[.[]/)[0];
}

function explainBroadcast(error) {
  // A rule's refusal (422) says what is wrong ("'pt': template 'x' is not approved in it");
  // otherwise the field at fault is named by its label ("params.pt" → form_error_params).
  if (!(error instanceof ApiError)) return explain(error);
  if (error.status === 422 && error.message && error.message !== error.code) return error.message;
  const field = fieldOf(error);
  if ((error.status === 400 || error.status === 422) && field && has(`form_error_${field}`)) return t(`form_error_${field}`);
  return explain(error);
}

function refuseBroadcast(error) {
  if (error instanceof ApiError && error.status === 401) return;
  toast(explainBroadcast(error), "error");
  const field = fieldOf(error);
  const target = field === "languages" ? document.querySelector("#broadcast-languages input") : $(BROADCAST_FIELDS[field]);
  target?.focus();
}

async function submitBroadcast(event) {
  event.preventDefault();
  const name = $("broadcast-name").value.trim();
  const problem = (text, focus) => {
    toast(text, "error");
    $(focus)?.focus();
  };
  if (!name) return problem(t("form_error_name"), "broadcast-name");
  const segment = segmentBody();
  if (segment.problem) return problem(segment.problem, segment.focus);
  const params = paramsBody();
  if (params.problem) return problem(params.problem, params.focus);
  let sendAt = null;
  if (document.querySelector('input[name="broadcast-when"]:checked')?.value === "later") {
    const value = $("broadcast-at").value;
    const when = value ? new Date(value) : null;
    if (!when || when <= new Date()) return problem(t("form_error_send_at"), "broadcast-at");
    sendAt = isoWithOffset(when);
  }
  const body = { ...segment.body, name, params: params.params, send_at: sendAt };
  const button = $("broadcast-submit");
  button.disabled = true;
  try {
    const preview = await api("/broadcasts/preview", { method: "POST", body: segment.body });
    state.broadcasts.preview = { answer: preview };
    renderPreview();
    state.broadcasts.pending = body;
    const template = chosenTemplate();
    fill($("broadcast-confirm-text"),
      h("p", {}, sendAt ? t("confirm_broadcast_later", { name, when: formatDateTime(sendAt) }) : t("confirm_broadcast_now", { name })),
      factList([
        [t("template"), `${body.template} · ${categoryName(template?.category || preview.category)}`],
        [t("topic"), topicLabel(body.topic)],
        [t("audience"), h("strong", { id: "confirm-audience" }, plural("residents", preview.audience))],
        [t("estimated_cost"), h("strong", { id: "confirm-cost" }, money(preview.estimated_cost, preview.currency))],
      ]),
      preview.days_needed > 1 ? h("p", { class: "notice-warn" }, plural("days_needed", preview.days_needed, { limit: formatNumber(preview.daily_limit) })) : null,
      preview.audience === 0 ? h("p", { class: "notice-warn" }, t("audience_empty")) : null,
    );
    $("broadcast-confirm-send").textContent = sendAt ? t("schedule") : t("send");
    $("broadcast-confirm-dialog").showModal();
  } catch (error) {
    refuseBroadcast(error);
  } finally {
    button.disabled = false;
  }
}

async function createBroadcast() {
  const body = state.broadcasts.pending;
  if (!body) return;
  const button = $("broadcast-confirm-send");
  button.disabled = true;
  try {
    const created = await api("/broadcasts", { method: "POST", body });
    $("broadcast-confirm-dialog").close();
    state.broadcasts.pending = null;
    resetBroadcastForm();
    state.broadcasts.detail = created;
    state.broadcasts.id = created.id;
    toast(body.send_at ? t("broadcast_scheduled") : t("broadcast_started"));
    location.hash = `#/broadcasts/${encodeURIComponent(created.id)}`;
  } catch (error) {
    $("broadcast-confirm-dialog").close();
    refuseBroadcast(error);
  } finally {
    button.disabled = false;
  }
}

function wireBroadcasts() {
  $("broadcast-form").addEventListener("submit", submitBroadcast);
  $("broadcast-template").addEventListener("change", () => {
    renderTemplateHint();
    renderParams();
    queuePreview(0);
  });
  $("broadcast-topic").addEventListener("change", () => queuePreview(0));
  $("broadcast-languages").addEventListener("change", () => {
    renderParams();
    queuePreview();
  });
  $("broadcast-tags").addEventListener("input", () => queuePreview());
  $("broadcast-param-add").addEventListener("click", addParam);
  $("broadcast-per-language").addEventListener("change", renderParams);
  $("broadcast-field-add").addEventListener("click", addCustomField);
  for (const input of document.querySelectorAll('input[name="broadcast-when"]'))
    input.addEventListener("change", renderWhen);
  $("broadcast-confirm-form").addEventListener("submit", (event) => {
    event.preventDefault();
    createBroadcast();
  });
  $("broadcast-cancel").addEventListener("click", () => $("broadcast-cancel-dialog").showModal());
  $("broadcast-cancel-form").addEventListener("submit", (event) => {
    event.preventDefault();
    $("broadcast-cancel-dialog").close();
    cancelBroadcast();
  });
}

// ---------------------------------------------------------------- resident data (supervisors)

function digitsOf(value) {
  return String(value || "").replace(/\D/g, "");
}

function residentPath(phone) {
  // "+digits": the server reads a number with "+" as WhatsApp writes it, whatever its length.
  return encodeURIComponent(`+${digitsOf(phone)}`);
}

function residentPhone() {
  const detail = state.open?.detail;
  return detail?.resident?.phone || detail?.conversation?.phone || null;
}

function renderResidentData() {
  const section = $("resident-data-section");
  section.hidden = !isSupervisor();
  if (section.hidden) return;
  const phone = residentPhone();
  $("resident-data-none").hidden = Boolean(phone);
  for (const id of ["resident-export", "resident-audit", "resident-erase"]) $(id).hidden = !phone;
}

async function exportResident() {
  const phone = residentPhone();
  if (!phone) return;
  const button = $("resident-export");
  button.disabled = true;
  try {
    const response = await api(`/residents/${residentPath(phone)}/export`, { raw: true });
    const blob = await response.blob();
    saveBlob(blob, filenameFrom(response.headers.get("Content-Disposition")) || "resident-export.json");
    announce(t("export_ready"));
  } catch (error) {
    report(error);
  } finally {
    button.disabled = false;
  }
}

function openEraseDialog() {
  const phone = residentPhone();
  if (!phone || !state.open) return;
  state.erasing = { phone, conversation: state.open.id, done: false };
  $("erase-confirm-label").replaceChildren(...tNodes("erase_confirm_label", { phone: phoneNode(digitsOf(phone)) }));
  $("erase-confirm").value = "";
  $("erase-confirm").removeAttribute("aria-invalid");
  $("erase-result").hidden = true;
  $("erase-result").replaceChildren();
  $("erase-submit").disabled = true;
  showEraseStep({ done: false });
  $("erase-dialog").showModal();
  $("erase-confirm").focus();
}

function showEraseStep({ done }) {
  // Asking for the number (Cancel, Erase), or the erasure's result (Close).
  for (const id of ["erase-ask", "erase-submit", "erase-cancel"]) $(id).hidden = done;
  $("erase-done").hidden = !done;
}

function eraseTyped() {
  const typed = digitsOf($("erase-confirm").value);
  return typed && typed === digitsOf(state.erasing?.phone) ? typed : null;
}

async function submitErase(event) {
  event.preventDefault();
  const erasing = state.erasing;
  if (!erasing || erasing.done) return;
  const typed = eraseTyped();
  if (!typed) {
    $("erase-confirm").setAttribute("aria-invalid", "true");
    toast(t("form_error_confirm"), "error");
    return $("erase-confirm").focus();
  }
  const button = $("erase-submit");
  button.disabled = true;
  try {
    const answer = await api(`/residents/${residentPath(erasing.phone)}/erase`, {
      method: "POST",
      body: { confirm: `+${typed}` },
    });
    erasing.done = true;
    showEraseResult(answer);
    forgetConversation(erasing.conversation);
  } catch (error) {
    button.disabled = false;
    const result = $("erase-result");
    result.hidden = false;
    // The server's words are English: its refusal of the typed number has a label of its own.
    const why = error instanceof ApiError && error.field === "confirm" ? t("form_error_confirm") : explain(error);
    result.replaceChildren(h("p", { class: "notice" }, why));
  }
}

function showEraseResult(answer) {
  const counts = nonZero(answer.erased);
  const total = counts.reduce((sum, [, count]) => sum + count, 0);
  showEraseStep({ done: true });
  const result = $("erase-result");
  result.hidden = false;
  fill(result,
    h("p", { class: "erase-summary" }, answer.already_erased ? t("erase_already") : plural("erased_records", total)),
    counts.length
      ? h(
          "table",
          {},
          h("caption", { class: "sr-only" }, t("erased_where")),
          countRows(counts, (where) => where),
        )
      : null,
    factList([
      [t("erased_at"), formatDateTime(answer.erased_at)],
      [t("pseudonym"), h("code", {}, answer.resident_ref || "—")],
    ]),
  );
  $("erase-done").focus();
}

function forgetConversation(id) {
  // The resident is gone: so are their conversations, from every list and from the screen.
  state.inbox.items = state.inbox.items.filter((row) => row.id !== id);
  if (state.search.items) state.search.items = state.search.items.filter((row) => row.id !== id);
  delete state.seen[id];
  sessionStorage.setItem(SEEN_KEY, JSON.stringify(state.seen));
  if (state.open?.id === id) {
    state.open = null;
    closeConversation();
    history.replaceState(null, "", "#/inbox");
  }
  renderInbox();
  loadInbox({ quiet: true });
  if (state.search.items) runSearch(state.search.query);
}

async function openResidentAudit() {
  const phone = residentPhone();
  if (!phone) return;
  const box = $("resident-audit-list");
  box.replaceChildren(h("p", { class: "hint" }, t("loading")));
  box.setAttribute("aria-busy", "true");
  $("resident-audit-dialog").showModal();
  try {
    const answer = await api(`/audit?${new URLSearchParams({ phone: `+${digitsOf(phone)}` })}`);
    fill(box,
      auditTable(answer.events || [], { withResident: false, label: t("resident_audit_title") }),
      answer.resident_ref ? h("p", { class: "hint" }, t("pseudonym"), ": ", h("code", {}, answer.resident_ref)) : null,
    );
  } catch (error) {
    box.replaceChildren(h("p", { class: "notice" }, explain(error)));
  } finally {
    box.setAttribute("aria-busy", "false");
  }
}

function wireResidentData() {
  $("resident-export").addEventListener("click", exportResident);
  $("resident-erase").addEventListener("click", openEraseDialog);
  $("resident-audit").addEventListener("click", openResidentAudit);
  $("erase-confirm").addEventListener("input", () => {
    $("erase-confirm").removeAttribute("aria-invalid");
    $("erase-submit").disabled = !eraseTyped();
  });
  $("erase-form").addEventListener("submit", submitErase);
  $("erase-dialog").addEventListener("close", () => {
    // The conversation it was opened from is gone: focus goes to the page, not to nowhere.
    if (state.erasing?.done) $("main").focus();
    state.erasing = null;
  });
}

// ---------------------------------------------------------------- audit log (supervisors)

function auditAction(action) {
  return has(`audit_action_${action}`) ? t(`audit_action_${action}`) : action;
}

function auditDetail(event) {
  // The detail (a text, or named values) and, for an export or an erasure, how many records.
  const { detail, counts } = event;
  const parts = [];
  if (detail !== null && detail !== undefined && detail !== "") {
    if (typeof detail !== "object") parts.push(String(detail));
    else
      parts.push(
        ...Object.entries(detail).map(([key, value]) => `${key}: ${typeof value === "object" ? JSON.stringify(value) : value}`),
      );
  }
  const counted = nonZero(counts);
  if (counted.length) parts.push(counted.map(([where, count]) => `${where}: ${formatNumber(count)}`).join(", "));
  return parts.join(" · ") || "—";
}

function auditTable(events, { withResident, label }) {
  if (!events.length) return h("p", { class: "muted" }, t("audit_empty"));
  const head = [t("when"), t("audit_who"), t("audit_what"), withResident ? t("pseudonym") : null, t("details")].filter(Boolean);
  return scrollTable(
    label,
    "audit-table",
    head,
    events.map((event) =>
      h(
        "tr",
        { dataset: { action: event.action } },
        h("td", {}, h("time", { datetime: event.at }, formatDateTime(event.at))),
        h("td", {}, h("bdi", {}, actorName(event.actor))),
        h("td", {}, h("span", { class: `chip chip-audit-${event.action}` }, auditAction(event.action))),
        withResident ? h("td", {}, h("code", { title: event.resident_ref || "" }, (event.resident_ref || "—").slice(0, 12))) : null,
        h("td", { class: "audit-detail" }, h("bdi", {}, auditDetail(event))),
      ),
    ),
  );
}

async function loadAudit({ append = false } = {}) {
  const audit = state.audit;
  const request = ++audit.request;
  const list = $("audit-list");
  list.setAttribute("aria-busy", "true");
  $("audit-error").hidden = true;
  if (!append && !audit.loaded) renderAuditList();
  try {
    const cursor = append && audit.next ? `?${new URLSearchParams({ cursor: audit.next })}` : "";
    const answer = await api(`/audit${cursor}`);
    if (request !== audit.request) return;
    audit.events = append ? [...audit.events, ...(answer.events || [])] : answer.events || [];
    audit.next = answer.next || null;
    audit.loaded = true;
    renderAuditList();
    if (append && $("audit-more").hidden) list.querySelector(".table-scroll")?.focus();
  } catch (error) {
    if (request !== audit.request) return;
    $("audit-error").textContent = explain(error);
    $("audit-error").hidden = false;
  } finally {
    if (request === audit.request) list.setAttribute("aria-busy", "false");
  }
}

function renderAuditList() {
  const audit = state.audit;
  $("audit-list").replaceChildren(
    audit.loaded ? auditTable(audit.events, { withResident: true, label: t("audit_log") }) : h("p", { class: "hint" }, t("loading")),
  );
  $("audit-more").hidden = !audit.next;
}

// ---------------------------------------------------------------- keyboard

const SHORTCUTS = [
  ["/", "shortcut_search"],
  ["j / k", "shortcut_next_previous"],
  ["1 – 4", "shortcut_views"],
  ["r", "shortcut_reply"],
  ["n", "shortcut_note"],
  ["a", "shortcut_assign"],
  ["t", "shortcut_transfer"],
  ["s", "shortcut_snooze"],
  ["e", "shortcut_resolve"],
  ["Enter", "shortcut_send"],
  ["Shift + Enter", "shortcut_newline"],
  ["Esc", "shortcut_escape"],
  ["?", "shortcut_help"],
];

function renderShortcuts() {
  $("shortcut-list").replaceChildren(
    ...SHORTCUTS.flatMap(([keys, label]) => [
      h("dt", {}, keys.split(/( \/ | – | \+ )/).map((part, index) => (index % 2 ? part : h("kbd", {}, part)))),
      h("dd", {}, t(label)),
    ]),
  );
}

function moveSelection(step) {
  const rows = rowsToShow();
  if (!rows.length) return;
  const index = rows.findIndex((row) => row.id === state.open?.id);
  const next = rows[Math.min(rows.length - 1, Math.max(0, index === -1 ? 0 : index + step))];
  location.hash = `#/c/${encodeURIComponent(next.id)}`;
  requestAnimationFrame(() => document.querySelector(`.row[data-id="${CSS.escape(next.id)}"]`)?.scrollIntoView({ block: "nearest" }));
}

function onGlobalKeydown(event) {
  if (!state.me || event.ctrlKey || event.metaKey || event.altKey) return;
  if (document.querySelector("dialog[open]")) return;
  if (event.key === "Escape") {
    if (event.target === $("search-input") && $("search-input").value) {
      clearSearch();
      return;
    }
    if ($("inbox-page").classList.contains("show-profile")) {
      toggleProfile(false);
      return;
    }
  }
  if (!state.shortcuts && event.key.length === 1) return; // single-key shortcuts are off
  if (isTyping(event.target)) return;
  const open = Boolean(state.open?.detail) && state.page === "inbox";
  const handlers = {
    "/": () => $("search-input").focus(),
    "?": () => $("shortcuts-dialog").showModal(),
    j: () => moveSelection(1),
    k: () => moveSelection(-1),
    1: () => setView("mine"),
    2: () => setView("unassigned"),
    3: () => setView("team"),
    4: () => isSupervisor() && setView("all"),
    r: () => open && (setMode("reply"), $("composer-text").focus()),
    n: () => open && (setMode("note"), $("composer-text").focus()),
    a: () => open && !$("action-take").hidden && takeConversation(),
    t: () => open && !$("action-transfer").hidden && openTransferDialog(),
    s: () => open && !$("action-snooze").hidden && openSnoozeDialog(),
    e: () => open && !$("action-resolve").hidden && confirmResolve(),
  };
  const handler = handlers[event.key];
  if (handler && state.page === "inbox") {
    event.preventDefault();
    handler();
  } else if (event.key === "?") {
    event.preventDefault();
    handlers["?"]();
  }
}

function onTabKeydown(event) {
  const tabs = [...document.querySelectorAll("[data-view]")].filter((tab) => !tab.hidden);
  const index = tabs.indexOf(event.target);
  if (index === -1) return;
  const rtl = document.documentElement.dir === "rtl";
  const forward = rtl ? "ArrowLeft" : "ArrowRight";
  const backward = rtl ? "ArrowRight" : "ArrowLeft";
  let next = null;
  if (event.key === forward) next = tabs[(index + 1) % tabs.length];
  if (event.key === backward) next = tabs[(index - 1 + tabs.length) % tabs.length];
  if (event.key === "Home") next = tabs[0];
  if (event.key === "End") next = tabs.at(-1);
  if (!next) return;
  event.preventDefault();
  setView(next.dataset.view);
  next.focus();
}

function setShortcuts(on, { remember = true } = {}) {
  state.shortcuts = on;
  if (remember) localStorage.setItem(SHORTCUTS_KEY, on ? "on" : "off");
  $("shortcuts-toggle").checked = on;
  // Only shortcuts that work are announced.
  for (const node of document.querySelectorAll("[data-keyshortcuts]")) {
    if (on) node.setAttribute("aria-keyshortcuts", node.dataset.keyshortcuts);
    else node.removeAttribute("aria-keyshortcuts");
  }
  $("shortcuts-off").hidden = on;
  document.querySelector('#conversation-placeholder [data-i18n="shortcuts_hint"]').hidden = !on;
}

function toggleProfile(show) {
  const page = $("inbox-page");
  const visible = show ?? !page.classList.contains("show-profile");
  page.classList.toggle("show-profile", visible);
  $("details-button").setAttribute("aria-expanded", String(visible));
  if (visible) $("profile-close").focus();
  else $("details-button").focus();
}

// ---------------------------------------------------------------- wiring

function wire() {
  $("skip-link").addEventListener("click", (event) => {
    // Not a "#main" link: the router would read it as "the inbox, nothing open".
    event.preventDefault();
    ($("shell").hidden ? $("signin-page") : $("main")).focus();
  });
  $("signin-form").addEventListener("submit", submitSignIn);
  $("new-password-form").addEventListener("submit", submitNewPassword);
  $("sign-out-button").addEventListener("click", signOut);
  $("presence-button").addEventListener("click", togglePresence);
  for (const node of document.querySelectorAll("[aria-keyshortcuts]"))
    node.dataset.keyshortcuts = node.getAttribute("aria-keyshortcuts");
  $("shortcuts-toggle").addEventListener("change", () => setShortcuts($("shortcuts-toggle").checked));
  $("shortcuts-button").addEventListener("click", () => {
    $("user-menu").open = false;
    $("shortcuts-dialog").showModal();
  });
  document.addEventListener("click", (event) => {
    if ($("user-menu").open && !$("user-menu").contains(event.target)) $("user-menu").open = false;
  });
  $("user-menu").addEventListener("keydown", (event) => {
    if (event.key === "Escape" && $("user-menu").open) {
      $("user-menu").open = false;
      $("user-menu").querySelector("summary").focus();
    }
  });
  for (const tab of document.querySelectorAll("[data-view]")) {
    tab.addEventListener("click", () => setView(tab.dataset.view));
    tab.addEventListener("keydown", onTabKeydown);
  }
  $("team-select").addEventListener("change", () => {
    state.team = $("team-select").value;
    resetInboxList();
    renderInbox();
    loadInbox();
  });
  $("inbox-more").addEventListener("click", () => loadInbox({ append: true }));
  $("search-input").addEventListener("input", onSearchInput);
  $("search-clear").addEventListener("click", () => {
    clearSearch();
    $("search-input").focus();
  });
  $("back-button").addEventListener("click", () => {
    const id = state.open?.id;
    location.hash = "#/inbox";
    requestAnimationFrame(() => id && document.querySelector(`.row[data-id="${CSS.escape(id)}"]`)?.focus());
  });
  $("details-button").addEventListener("click", () => toggleProfile());
  $("profile-close").addEventListener("click", () => toggleProfile(false));
  $("action-take").addEventListener("click", takeConversation);
  $("action-assign").addEventListener("click", openAssignDialog);
  $("action-transfer").addEventListener("click", openTransferDialog);
  $("action-snooze").addEventListener("click", openSnoozeDialog);
  $("action-resolve").addEventListener("click", resolveConversation);
  $("action-reopen").addEventListener("click", () =>
    act("reopen", {}, t("reopened_message"), { ownButton: "action-reopen" }),
  );
  $("timeline-earlier").addEventListener("click", loadEarlier);
  $("timeline").addEventListener("scroll", () => {
    if (isNearBottom()) $("jump-latest").hidden = true;
  });
  $("jump-latest").addEventListener("click", () => scrollTimeline(true));
  $("composer").addEventListener("submit", submitComposer);
  $("composer-text").addEventListener("input", onComposerInput);
  $("composer-text").addEventListener("keydown", onComposerKeydown);
  // Later, so a click on a suggestion lands first; and only if focus has not come back (an
  // agent who clicks the reply/note switch and types at once keeps the suggestions).
  $("composer-text").addEventListener("blur", () =>
    setTimeout(() => document.activeElement !== $("composer-text") && closeQuickReplies(), 150),
  );
  for (const input of document.querySelectorAll('input[name="mode"]'))
    input.addEventListener("change", () => setMode(input.value));
  $("attach-input").addEventListener("change", onAttach);
  $("attachment-remove").addEventListener("click", () => {
    clearAttachment();
    updateComposerMode();
  });
  $("tag-form").addEventListener("submit", submitTag);
  $("assign-form").addEventListener("submit", (event) => {
    event.preventDefault();
    $("assign-dialog").close();
    act("assign", { agent_id: $("assign-agent").value }, t("assigned_message", { agent: agentName($("assign-agent").value) }));
  });
  $("transfer-team").addEventListener("change", fillTransferAgents);
  $("transfer-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const body = { team: $("transfer-team").value };
    if ($("transfer-agent").value) body.agent_id = $("transfer-agent").value;
    if ($("transfer-note").value.trim()) body.note = $("transfer-note").value.trim();
    $("transfer-dialog").close();
    act("transfer", body, t("transferred_message", { team: teamName(body.team) }), { mayLeave: true });
  });
  $("resolve-form").addEventListener("submit", (event) => {
    event.preventDefault();
    $("resolve-dialog").close();
    resolveConversation();
  });
  $("snooze-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const value = $("snooze-until").value;
    if (!value) return;
    const when = new Date(value);
    if (when <= new Date()) return toast(t("snooze_future"), "error");
    $("snooze-dialog").close();
    snooze(when);
  });
  for (const button of document.querySelectorAll("[data-close]"))
    button.addEventListener("click", () => button.closest("dialog").close());
  $("report-form").addEventListener("submit", (event) => {
    event.preventDefault();
    loadReport();
  });
  $("report-csv").addEventListener("click", downloadCsv);
  wireBroadcasts();
  wireResidentData();
  $("audit-more").addEventListener("click", () => loadAudit({ append: true }));
  window.addEventListener("hashchange", () => state.me && route());
  document.addEventListener("keydown", onGlobalKeydown);
}

async function boot() {
  try {
    await loadStrings();
  } catch {
    state.strings = {};
  }
  fillLanguageSelects();
  setLanguage(initialLanguage(), { remember: false });
  wire();
  setShortcuts(localStorage.getItem(SHORTCUTS_KEY) !== "off", { remember: false });
  state.tokens = loadTokens();
  if (!state.tokens) return showSignIn();
  try {
    await startConsole();
  } catch (error) {
    clearTokens();
    state.me = null;
    showSignIn(error.status === 401 ? t("session_expired") : explain(error));
  }
}

boot();
