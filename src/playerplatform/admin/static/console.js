// Player Platform staff console: a client of the public JSON API, nothing more.
//
// Safety rule for this file: text from the server (display names, reasons, mail bodies, audit
// values) only ever reaches the page through textContent / createTextNode / setAttribute on
// fixed attribute names. Markup is never built from strings.
"use strict";

(() => {
  const API = "/api/v1";
  const REFRESH_KEY = "pp.console.refresh_token";
  const ROLES = ["player", "moderator", "admin"];
  const STATUS_CLASSES = new Set(["active", "banned", "merged", "ok", "dead", "pending", "running", "done", "success", "failure", "denied", "ban", "unban", "published", "pending_review", "flagged", "removed", "open"]);
  const NOT_STAFF = "This account has no moderator or admin role. The console is for studio staff only; you have been signed out.";

  // -- DOM helpers ------------------------------------------------------------------------

  const $ = (selector) => document.querySelector(selector);

  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs)) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") node.className = value;
      else if (key === "onclick" || key === "onsubmit" || key === "onchange") node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : String(value));
    }
    for (const child of children.flat(Infinity)) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  const code = (text) => el("code", { class: "id" }, text ?? "—");
  const dash = (value) => (value === null || value === undefined || value === "" ? "—" : String(value));

  function badge(value) {
    const cls = STATUS_CLASSES.has(value) ? `badge badge-${value}` : "badge";
    return el("span", { class: cls }, dash(value));
  }

  function chips(values) {
    return el("span", { class: "chips" }, (values || []).map((v) => el("span", { class: `chip chip-${ROLES.includes(v) ? v : "other"}` }, v)));
  }

  function when(iso) {
    if (!iso) return el("span", { class: "muted" }, "—");
    const date = new Date(iso);
    if (Number.isNaN(date.getTime())) return document.createTextNode(String(iso));
    const utc = date.toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z");
    return el("time", { datetime: iso, title: date.toString() }, utc);
  }

  function json(value) {
    return el("pre", { class: "json" }, JSON.stringify(value, null, 2));
  }

  function cellValue(value) {
    if (value === null || value === undefined) return el("span", { class: "muted" }, "—");
    if (typeof value === "object") return el("code", { class: "value" }, JSON.stringify(value));
    return el("code", { class: "value" }, String(value));
  }

  function table(headers, rows) {
    return el("div", { class: "table-wrap" },
      el("table", { class: "data compact" },
        el("thead", {}, el("tr", {}, headers.map((h) => el("th", {}, h)))),
        el("tbody", {}, rows)));
  }

  function playerLink(canonicalId) {
    return el("a", { href: `#players/${encodeURIComponent(canonicalId)}` }, code(canonicalId));
  }

  // A datetime-local value (the staff member's own clock) as RFC 3339 UTC.
  function localToIso(value) {
    if (!value) return "";
    const date = new Date(value);
    return Number.isNaN(date.getTime()) ? value : date.toISOString();
  }

  // -- Banner -----------------------------------------------------------------------------

  let bannerTimer = null;

  function showBanner(text, { codeText = "", fields = [], kind = "error" } = {}) {
    clearTimeout(bannerTimer);
    const banner = $("#banner");
    banner.className = `banner banner-${kind}`;
    $("#banner-text").textContent = text;
    $("#banner-code").textContent = codeText;
    $("#banner-code").hidden = !codeText;
    $("#banner-fields").replaceChildren(...fields.map((f) => el("li", {}, el("code", {}, dash(f.field)), " ", dash(f.message))));
    banner.hidden = false;
    if (kind === "ok") bannerTimer = setTimeout(hideBanner, 4000);
  }

  function hideBanner() {
    $("#banner").hidden = true;
  }

  function showError(err) {
    if (err instanceof ApiError) {
      const fields = Array.isArray(err.problem.errors) ? err.problem.errors : [];
      showBanner(err.message, { codeText: err.code, fields });
    } else {
      showBanner(String(err && err.message ? err.message : err), { codeText: "client_error" });
    }
  }

  const notify = (text) => showBanner(text, { kind: "ok" });

  // -- API client -------------------------------------------------------------------------

  class ApiError extends Error {
    constructor(status, problem) {
      super(problem.detail || problem.title || `The server answered ${status}.`);
      this.status = status;
      this.code = problem.code || `http_${status}`;
      this.problem = problem;
    }
  }

  // The access token lives in memory only; the refresh token in sessionStorage, so a reload
  // keeps the session and closing the tab ends it.
  const session = { access: null, user: null, expiresAt: 0, refreshing: null };

  async function send(method, path, { query = null, body, auth = true, extraHeaders = {} } = {}) {
    let url = path;
    if (query) {
      const params = new URLSearchParams();
      for (const [key, value] of Object.entries(query)) {
        if (value !== null && value !== undefined && value !== "") params.set(key, value);
      }
      const qs = params.toString();
      if (qs) url += `?${qs}`;
    }
    const headers = { Accept: "application/json", ...extraHeaders };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (auth && session.access) headers.Authorization = `Bearer ${session.access}`;
    let response;
    try {
      response = await fetch(url, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        credentials: "omit",
        cache: "no-store",
      });
    } catch {
      throw new ApiError(0, { detail: "The server could not be reached.", code: "network_error" });
    }
    if (response.status === 204) return null;
    let data = null;
    if ((response.headers.get("content-type") || "").includes("json")) {
      try { data = await response.json(); } catch { data = null; }
    }
    if (!response.ok) throw new ApiError(response.status, data && typeof data === "object" ? data : {});
    return data;
  }

  // An authenticated call: an expired access token is renewed once and the call repeated; a
  // session the server no longer accepts sends the staff member back to the sign-in form.
  async function api(method, path, options = {}) {
    try {
      return await send(method, path, options);
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      if (err.status === 401 && err.code === "token_expired") {
        await refreshSession();
        return send(method, path, options);
      }
      if (err.status === 401 || err.code === "account_banned") endSession("Your session has ended. Please sign in again.");
      throw err;
    }
  }

  function refreshSession() {
    if (!session.refreshing) {
      session.refreshing = (async () => {
        const token = sessionStorage.getItem(REFRESH_KEY);
        if (!token) throw new ApiError(401, { detail: "Please sign in.", code: "unauthorized" });
        let tokens;
        try {
          tokens = await send("POST", `${API}/auth/refresh`, { body: { refresh_token: token }, auth: false });
        } catch (err) {
          if (err instanceof ApiError && err.status >= 400 && err.status < 500) endSession("Your session has ended. Please sign in again.");
          throw err;
        }
        await adopt(tokens);
      })().finally(() => { session.refreshing = null; });
    }
    return session.refreshing;
  }

  const roles = () => (session.user && Array.isArray(session.user.roles) ? session.user.roles : []);
  const isAdmin = () => roles().includes("admin");
  const isStaff = () => isAdmin() || roles().includes("moderator");

  async function adopt(tokens) {
    session.access = tokens.access_token;
    session.user = tokens.user;
    session.expiresAt = Date.now() + tokens.expires_in * 1000;
    sessionStorage.setItem(REFRESH_KEY, tokens.refresh_token);
    if (!isStaff()) {
      // Not staff: end the session just made rather than keep tokens the console cannot use.
      try { await send("POST", `${API}/auth/logout`, { body: {} }); } catch { /* ending anyway */ }
      endSession(NOT_STAFF, "warn");
      throw new ApiError(403, { detail: NOT_STAFF, code: "forbidden" });
    }
  }

  function endSession(note, kind = "info") {
    session.access = null;
    session.user = null;
    session.expiresAt = 0;
    sessionStorage.removeItem(REFRESH_KEY);
    showSignIn(note, kind);
  }

  // -- Sign in and out --------------------------------------------------------------------

  function showSignIn(note = "", kind = "info") {
    $("#app-view").hidden = true;
    $("#signin-view").hidden = false;
    const box = $("#signin-note");
    box.textContent = note;
    box.className = `note note-${kind}`;
    box.hidden = !note;
    $("#signin-form").elements.email.focus();
  }

  async function signIn(event) {
    event.preventDefault();
    const form = event.currentTarget;
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    hideBanner();
    try {
      const body = { email: form.elements.email.value.trim(), password: form.elements.password.value };
      const code = form.elements.totp_code.value.trim();
      if (code) body.totp_code = code;
      const tokens = await send("POST", `${API}/auth/email/login`, { body, auth: false });
      form.elements.password.value = "";
      form.elements.totp_code.value = "";
      await adopt(tokens);
      enterConsole();
    } catch (err) {
      form.elements.totp_code.value = "";
      if (err instanceof ApiError && (err.code === "second_factor_required" || err.code === "invalid_second_factor")) {
        // The password was right: ask for the code, keep what was typed.
        showSignIn(err.message, "warn");
        form.elements.totp_code.focus();
      } else if (!(err instanceof ApiError && err.code === "forbidden" && err.message === NOT_STAFF)) showError(err);
    } finally {
      button.disabled = false;
    }
  }

  async function signOut() {
    try { await send("POST", `${API}/auth/logout`, { body: {} }); } catch { /* the local session ends regardless */ }
    hideBanner();
    endSession("You have signed out.");
  }

  function enterConsole() {
    $("#signin-view").hidden = true;
    $("#app-view").hidden = false;
    const user = session.user;
    const email = (user.identities || []).find((i) => i.provider === "email");
    $("#whoami-name").textContent = (user.profile && user.profile.display_name) || (email && email.provider_id) || user.canonical_id;
    $("#whoami-roles").replaceChildren(chips(user.roles));
    for (const link of document.querySelectorAll("[data-admin-only]")) link.hidden = !isAdmin();
    route();
  }

  // -- Routing (#view/arg?filters) --------------------------------------------------------

  const views = {};

  function parseHash() {
    const raw = location.hash.replace(/^#/, "");
    const [path, qs = ""] = raw.split("?", 2);
    const [view, ...rest] = path.split("/");
    let arg = null;
    try { arg = rest.length ? decodeURIComponent(rest.join("/")) : null; } catch { arg = null; }
    return { view: view || "overview", arg, params: new URLSearchParams(qs) };
  }

  function route() {
    if (!session.access) return;
    hideBanner(); // an error belongs to the view it happened on
    let { view, arg, params } = parseHash();
    if (view === "players" && arg) view = "player";
    const spec = views[view];
    if (!spec || (spec.adminOnly && !isAdmin())) view = "overview";
    for (const section of document.querySelectorAll(".view")) section.hidden = section.id !== `view-${view}`;
    const navView = view === "player" ? "players" : view;
    for (const link of document.querySelectorAll("#nav a")) link.classList.toggle("active", link.dataset.view === navView);
    views[view].open(arg, params);
  }

  // A list with "Load more" paging; a newer reload makes answers to older ones moot.
  function pager({ rows, empty, more, fetchPage, render }) {
    let cursor = null;
    let generation = 0;
    async function load(reset) {
      const mine = reset ? ++generation : generation;
      if (reset) { rows.replaceChildren(); cursor = null; empty.hidden = true; more.hidden = true; }
      more.disabled = true;
      try {
        const page = await fetchPage(cursor);
        if (mine !== generation) return;
        for (const item of page.items) rows.append(...[render(item)].flat());
        cursor = page.next_cursor;
        more.hidden = !cursor;
        empty.hidden = rows.childElementCount > 0;
      } catch (err) {
        if (mine === generation) showError(err);
        throw err;
      } finally {
        more.disabled = false;
      }
    }
    more.addEventListener("click", () => load(false).catch(() => {}));
    return { reload: () => load(true) };
  }

  // A row that opens a detail row under it when clicked.
  function expandable(cells, detail, columns) {
    const detailRow = el("tr", { class: "detail-row", hidden: true }, el("td", { colspan: columns }, detail));
    const row = el("tr", { class: "expandable", tabindex: 0 }, cells);
    const toggle = () => {
      detailRow.hidden = !detailRow.hidden;
      row.classList.toggle("open", !detailRow.hidden);
      if (!detailRow.hidden) for (const box of detailRow.querySelectorAll("[data-preview]")) box.load();
    };
    row.addEventListener("click", (e) => { if (!e.target.closest("a, button")) toggle(); });
    row.addEventListener("keydown", (e) => { if (e.key === "Enter") toggle(); });
    return [row, detailRow];
  }

  // -- Overview ---------------------------------------------------------------------------

  views.overview = { open: loadOverview };

  async function loadOverview() {
    const status = $("#ready-status");
    const checks = $("#ready-checks");
    let body;
    try {
      body = await send("GET", "/readyz", { auth: false });
      status.replaceChildren(badge("ok"), " every dependency answers");
    } catch (err) {
      body = err instanceof ApiError ? err.problem : {};
      status.replaceChildren(el("span", { class: "badge badge-failure" }, "not ready"), " ", err.message);
    }
    checks.replaceChildren(...Object.entries(body.checks || {}).map(([name, state]) =>
      el("tr", {}, el("td", {}, name), el("td", {}, state === "ok" ? badge("ok") : el("span", { class: "badge badge-failure" }, state)))));
    const user = session.user;
    const email = (user.identities || []).find((i) => i.provider === "email");
    const rows = [
      ["Canonical id", code(user.canonical_id)],
      ["Display name", dash(user.profile && user.profile.display_name)],
      ["Email", email ? email.provider_id : "—"],
      ["Roles", chips(user.roles)],
      ["Status", badge(user.status)],
      ["Access token until", when(new Date(session.expiresAt).toISOString())],
    ];
    $("#me-details").replaceChildren(...rows.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]));
  }

  // -- Players ----------------------------------------------------------------------------

  const players = pager({
    rows: $("#players-rows"),
    empty: $("#players-empty"),
    more: $("#players-more"),
    fetchPage: (cursor) => {
      const f = $("#players-search").elements;
      return api("GET", `${API}/admin/users`, { query: { q: f.q.value.trim(), status: f.status.value, cursor } });
    },
    render: (user) => {
      const row = el("tr", { class: "expandable" },
        el("td", {}, playerLink(user.canonical_id)),
        el("td", {}, dash(user.profile && user.profile.display_name)),
        el("td", {}, badge(user.status)),
        el("td", {}, chips(user.roles)),
        el("td", {}, (user.identities || []).map((i) => el("span", { class: "chip chip-other" }, i.provider))),
        el("td", {}, when(user.created_at)));
      row.addEventListener("click", (e) => {
        if (!e.target.closest("a")) location.hash = `#players/${encodeURIComponent(user.canonical_id)}`;
      });
      return row;
    },
  });
  let playersLoaded = false;

  views.players = {
    open: () => {
      if (!playersLoaded) { playersLoaded = true; players.reload().catch(() => {}); }
    },
  };

  views.player = { open: (canonicalId) => loadPlayer(canonicalId) };
  let currentPlayer = null;

  async function loadPlayer(canonicalId) {
    currentPlayer = canonicalId;
    const box = $("#player-detail");
    box.replaceChildren(el("p", { class: "muted" }, "Loading…"));
    try {
      const user = await api("GET", `${API}/admin/users/${encodeURIComponent(canonicalId)}`);
      if (currentPlayer === canonicalId) renderPlayer(user);
    } catch (err) {
      if (currentPlayer === canonicalId) box.replaceChildren(el("p", { class: "muted" }, "This player could not be loaded."));
      showError(err);
    }
  }

  const BUILT_IN = new Set(["canonical_id", "status", "roles", "profile", "identities", "email_verified", "created_at", "sessions", "sanctions", "ban"]);

  function renderPlayer(user) {
    const name = (user.profile && user.profile.display_name) || "(no display name)";
    const profile = user.profile || {};
    const head = el("div", { class: "card player-head" },
      el("div", {},
        el("h2", {}, name),
        el("div", { class: "player-id" }, code(user.canonical_id), " ", badge(user.status), " ", chips(user.roles))),
      el("dl", { class: "kv" },
        el("dt", {}, "Created"), el("dd", {}, when(user.created_at)),
        el("dt", {}, "Email verified"), el("dd", {}, user.email_verified ? "yes" : "no"),
        el("dt", {}, "Locale / country"), el("dd", {}, `${dash(profile.locale)} / ${dash(profile.country)}`),
        el("dt", {}, "Avatar URL"), el("dd", {}, cellValue(profile.avatar_url))),
      el("a", { href: `#audit?user=${encodeURIComponent(user.canonical_id)}`, class: "button-link" }, "Audit entries for this player"));
    const banNotice = user.ban
      ? el("div", { class: "note note-warn" }, el("strong", {}, "Banned "), user.ban.until ? ["until ", when(user.ban.until)] : "permanently", ". Reason: ", dash(user.ban.reason))
      : null;

    const sections = [
      section("Identities", user.identities.length ? table(["Provider", "Provider id", "Linked"],
        user.identities.map((i) => el("tr", {}, el("td", {}, i.provider), el("td", {}, code(i.provider_id)), el("td", {}, when(i.linked_at))))) : emptyNote("No identities.")),
      section("Sessions", user.sessions.length ? table(["Session id", "Provider", "Created", "Refreshed", "Expires", "IP", "User agent"],
        user.sessions.map((s) => el("tr", {}, el("td", {}, code(s.session_id)), el("td", {}, s.provider), el("td", {}, when(s.created_at)),
          el("td", {}, when(s.refreshed_at)), el("td", {}, when(s.expires_at)), el("td", {}, code(s.ip)), el("td", { class: "wrap" }, dash(s.user_agent))))) : emptyNote("No live sessions.")),
      section("Sanctions", user.sanctions.length ? table(["Action", "Reason", "Until", "By", "At"],
        user.sanctions.map((s) => el("tr", {}, el("td", {}, badge(s.action)), el("td", { class: "wrap" }, dash(s.reason)),
          el("td", {}, s.action === "ban" ? (s.until ? when(s.until) : "permanent") : "—"), el("td", {}, playerLink(s.actor_id)), el("td", {}, when(s.created_at))))) : emptyNote("No bans or unbans on record.")),
    ];
    sections.push(sanctionsSection(user));
    // Sections other domains add (entitlements, balances, ...), shown as they come.
    for (const [key, value] of Object.entries(user)) {
      if (BUILT_IN.has(key)) continue;
      if (key === "orders" && Array.isArray(value)) {
        sections.push(section("Orders", value.length ? ordersTable(user, value) : emptyNote("No orders.")));
        continue;
      }
      const title = key.replace(/_/g, " ").replace(/^./, (c) => c.toUpperCase());
      sections.push(section(title, Array.isArray(value) && value.length === 0 ? emptyNote("None.") : genericTable(value)));
    }
    $("#player-detail").replaceChildren(el("div", { class: "player" }, head, banNotice, actions(user), sections));
  }

  // The player's orders, each refundable from here (no order id to look up elsewhere).
  function ordersTable(user, orders) {
    return table(["Order id", "Provider", "SKU", "Quantity", "Status", "Amount", "Created", ""], orders.map((o) => {
      let refund = null;
      if (isAdmin() && o.status === "verified") {
        refund = el("button", { type: "button", class: "small danger" }, "Refund");
        refund.addEventListener("click", async () => {
          const reason = window.prompt(`Refund order ${o.order_id} with ${o.provider} and revoke what it granted? Reason:`, "Refunded at the player's request");
          if (!reason) return;
          refund.disabled = true;
          try {
            await api("POST", `${API}/admin/orders/${encodeURIComponent(o.order_id)}/refund`, { body: { reason } });
            renderPlayer(await api("GET", `${API}/admin/users/${encodeURIComponent(user.canonical_id)}`));
            notify("Order refunded; what it granted is revoked.");
          } catch (err) {
            refund.disabled = false;
            showError(err);
          }
        });
      }
      return el("tr", {}, el("td", {}, code(o.order_id)), el("td", {}, o.provider), el("td", {}, code(o.sku_id)),
        el("td", { class: "num" }, dash(o.quantity)), el("td", {}, badge(o.status)),
        el("td", { class: "num" }, o.amount === null || o.amount === undefined ? "—" : `${o.amount} ${o.currency || ""}`.trim()),
        el("td", {}, when(o.created_at)), el("td", {}, refund));
    }));
  }

  // The player's sanctions (warnings, mutes, suspensions, bans, restrictions), each liftable.
  function sanctionsSection(user) {
    const body = el("div", {}, el("p", { class: "muted" }, "Loading…"));
    const lift = (item) => actionButtonInline("lift", async () => {
      const reason = window.prompt("Why is this sanction lifted? (recorded in the audit log)");
      if (!reason || !reason.trim()) return;
      await api("POST", `${API}/moderation/sanctions/${encodeURIComponent(item.sanction_id)}/lift`, { body: { reason: reason.trim() } });
      notify("Sanction lifted.");
      loadPlayer(user.canonical_id);
    });
    api("GET", `${API}/moderation/sanctions`, { query: { canonical_id: user.canonical_id, limit: 100 } }).then((page) => {
      body.replaceChildren(page.items.length ? table(["Type", "Scope", "Reason", "Ends", "State", "By", ""],
        page.items.map((item) => el("tr", {}, el("td", {}, item.type), el("td", {}, item.scope), el("td", { class: "wrap" }, item.reason, item.message ? ` — ${item.message}` : ""),
          el("td", {}, item.ends_at ? when(item.ends_at) : "—"), el("td", {}, item.active ? badge("active") : (item.lifted_at ? "lifted" : "ended")),
          el("td", {}, playerLink(item.imposed_by)), el("td", {}, item.active ? lift(item) : "")))) : emptyNote("No sanctions."));
    }).catch((err) => { body.replaceChildren(emptyNote("Sanctions could not be loaded.")); showError(err); });
    return section("Safety sanctions", body);
  }

  function actionButtonInline(label, run, cls = "danger") {
    const button = el("button", { type: "button", class: cls }, label);
    button.addEventListener("click", async () => {
      button.disabled = true;
      try { await run(); } catch (err) { showError(err); } finally { button.disabled = false; }
    });
    return button;
  }

  function choice(name, label, values) {
    return el("label", {}, label, el("select", { name }, values.map((v) => el("option", { value: v }, v))));
  }

  function section(title, body) {
    return el("div", { class: "card" }, el("h3", {}, title), body);
  }

  function emptyNote(text) {
    return el("p", { class: "muted" }, text);
  }

  function genericTable(value) {
    if (!Array.isArray(value) || !value.every((v) => v && typeof v === "object" && !Array.isArray(v))) return json(value);
    const keys = [...new Set(value.flatMap((v) => Object.keys(v)))];
    return table(keys, value.map((item) => el("tr", {}, keys.map((k) => el("td", {}, cellValue(item[k]))))));
  }

  function actions(user) {
    const self = session.user && user.canonical_id === session.user.canonical_id;
    const cards = [];
    if (!self && user.status !== "merged") {
      if (user.status === "banned") {
        cards.push(actionForm("Unban", [textarea("reason", "Reason (recorded in the audit log)")], "Unban", async (form) => {
          const reason = form.elements.reason.value.trim();
          return api("POST", `${API}/admin/users/${encodeURIComponent(user.canonical_id)}/unban`, { body: { reason } });
        }, "Player unbanned."));
      }
      cards.push(actionForm(user.status === "banned" ? "Change ban" : "Ban",
        [textarea("reason", "Reason (recorded in the audit log)"),
          el("label", {}, "Until (your local time; empty for a permanent ban)", el("input", { type: "datetime-local", name: "until", step: 1 }))],
        "Ban", async (form) => {
          const body = { reason: form.elements.reason.value.trim() };
          const until = localToIso(form.elements.until.value);
          if (until) body.until = until;
          const label = (user.profile && user.profile.display_name) || user.canonical_id;
          if (!window.confirm(`Ban ${label}? Every session ends at once.`)) return null;
          return api("POST", `${API}/admin/users/${encodeURIComponent(user.canonical_id)}/ban`, { body });
        }, "Player banned.", "danger"));
    }
    if (!self && user.status !== "merged") {
      cards.push(actionForm("Sanction",
        [choice("type", "Type", ["warning", "mute", "restriction", "suspension", "ban"]),
          choice("scope", "Scope (a restriction names one)", ["all", "leaderboards", "ugc", "social", "name"]),
          choice("reason", "Reason code (the player sees it)", ["cheating", "harassment", "hate", "spam", "inappropriate_name", "impersonation", "other"]),
          el("label", {}, "Ends (your local time; empty: until lifted)", el("input", { type: "datetime-local", name: "ends_at", step: 1 })),
          el("label", {}, "Words for the player (optional)", el("input", { name: "message", maxlength: 500 })),
          el("label", {}, "Notes for staff (optional)", el("textarea", { name: "notes", rows: 2, maxlength: 2000 }))],
        "Sanction", async (form) => {
          const f = form.elements;
          const body = { canonical_id: user.canonical_id, type: f.type.value, scope: f.scope.value, reason: f.reason.value };
          const endsAt = localToIso(f.ends_at.value);
          if (endsAt) body.ends_at = endsAt;
          if (f.message.value.trim()) body.message = f.message.value.trim();
          if (f.notes.value.trim()) body.notes = f.notes.value.trim();
          await api("POST", `${API}/moderation/sanctions`, { body });
          return api("GET", `${API}/admin/users/${encodeURIComponent(user.canonical_id)}`);
        }, "Sanction placed.", "danger"));
    }
    if (isAdmin() && user.status !== "merged") {
      const boxes = ROLES.map((role) => el("label", { class: "check" },
        el("input", { type: "checkbox", name: "roles", value: role, checked: (user.roles || []).includes(role) }), role));
      cards.push(actionForm("Roles", [el("div", { class: "checks" }, boxes)], "Save roles", async (form) => {
        const chosen = [...form.querySelectorAll("input[name=roles]:checked")].map((i) => i.value);
        return api("PUT", `${API}/admin/users/${encodeURIComponent(user.canonical_id)}/roles`, { body: { roles: chosen } });
      }, "Roles saved."));
    }
    if (isAdmin() && user.status === "active") {
      cards.push(actionForm("Grant an item",
        [el("label", {}, "SKU id", el("input", { name: "sku_id", required: true, maxlength: 64 })),
          el("label", {}, "Quantity (purchases: a consumable gives its units per purchase for each)", el("input", { name: "quantity", type: "number", min: 1, value: 1 })),
          textarea("reason", "Reason (recorded in the audit log)")],
        "Grant", async (form) => {
          const body = { sku_id: form.elements.sku_id.value.trim(), quantity: Number(form.elements.quantity.value || 1), reason: form.elements.reason.value.trim() };
          // A consumable's quantity counts purchases: say how many units that is before granting.
          const sku = await api("GET", `${API}/admin/skus/${encodeURIComponent(body.sku_id)}`);
          if (sku.type === "consumable" && sku.quantity !== 1) {
            const units = body.quantity * sku.quantity;
            if (!window.confirm(`${body.quantity} × ${sku.name || sku.sku_id} is ${units} units (${sku.quantity} per purchase). Grant ${units} units?`)) return null;
          }
          // One key per form submission: a double click or a retried request grants once.
          form.dataset.key = form.dataset.key || crypto.randomUUID();
          await api("POST", `${API}/admin/users/${encodeURIComponent(user.canonical_id)}/grants`, { body, extraHeaders: { "Idempotency-Key": form.dataset.key } });
          delete form.dataset.key;
          return api("GET", `${API}/admin/users/${encodeURIComponent(user.canonical_id)}`);
        }, "Granted."));
    }
    return cards.length ? el("div", { class: "cards actions" }, cards) : null;
  }

  function textarea(name, label) {
    return el("label", {}, label, el("textarea", { name, rows: 2, maxlength: 500, required: true }));
  }

  function actionForm(title, fields, buttonText, submit, done, buttonClass = "primary") {
    const button = el("button", { type: "submit", class: buttonClass }, buttonText);
    const form = el("form", { class: "card action" }, el("h3", {}, title), fields, button);
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      button.disabled = true;
      try {
        const user = await submit(form);
        if (user) { renderPlayer(user); notify(done); }
      } catch (err) {
        showError(err);
      } finally {
        button.disabled = false;
      }
    });
    return form;
  }

  // -- Audit log --------------------------------------------------------------------------

  const AUDIT_FILTERS = ["actor", "user", "action", "resource_type", "since"];

  const audit = pager({
    rows: $("#audit-rows"),
    empty: $("#audit-empty"),
    more: $("#audit-more"),
    fetchPage: (cursor) => {
      const f = $("#audit-filters").elements;
      const query = { cursor };
      for (const name of AUDIT_FILTERS) query[name] = f[name].value.trim();
      query.since = localToIso(query.since);
      return api("GET", `${API}/admin/audit-logs`, { query });
    },
    render: (entry) => expandable([
      el("td", {}, when(entry.created_at)),
      el("td", {}, code(entry.actor_id), " ", el("span", { class: "muted small" }, entry.actor_type)),
      el("td", {}, el("code", { class: "action" }, entry.action)),
      el("td", {}, entry.resource_type, " ", entry.resource_id ? code(entry.resource_id) : ""),
      el("td", {}, badge(entry.outcome)),
      el("td", {}, code(entry.ip)),
    ], auditDetail(entry), 6),
  });

  function auditDetail(entry) {
    const old = entry.old_values || {};
    const now = entry.new_values || {};
    const keys = [...new Set([...Object.keys(old), ...Object.keys(now)])];
    const changes = keys.length
      ? table(["Field", "Old value", "New value"], keys.map((k) => el("tr", { class: JSON.stringify(old[k]) === JSON.stringify(now[k]) ? "" : "changed" },
        el("td", {}, k), el("td", {}, cellValue(old[k])), el("td", {}, cellValue(now[k])))))
      : emptyNote("No values recorded.");
    return el("div", { class: "audit-detail" },
      el("dl", { class: "kv" },
        el("dt", {}, "Entry"), el("dd", {}, code(String(entry.id))),
        el("dt", {}, "Accounts touched"), el("dd", {}, entry.subjects.length ? entry.subjects.map((s) => [playerLink(s), " "]) : "—"),
        el("dt", {}, "Request id"), el("dd", {}, code(entry.request_id)),
        el("dt", {}, "User agent"), el("dd", { class: "wrap" }, dash(entry.user_agent))),
      changes);
  }

  views.audit = {
    open: (_arg, params) => {
      const f = $("#audit-filters").elements;
      for (const name of AUDIT_FILTERS) f[name].value = params.get(name) || "";
      audit.reload().catch(() => {});
    },
  };

  function applyAuditFilters(event) {
    if (event) event.preventDefault();
    const f = $("#audit-filters").elements;
    const params = new URLSearchParams();
    for (const name of AUDIT_FILTERS) if (f[name].value.trim()) params.set(name, f[name].value.trim());
    const next = params.toString() ? `#audit?${params}` : "#audit";
    if (location.hash === next) audit.reload().catch(() => {});
    else location.hash = next;
  }

  // -- Jobs -------------------------------------------------------------------------------

  const jobs = pager({
    rows: $("#jobs-rows"),
    empty: $("#jobs-empty"),
    more: $("#jobs-more"),
    fetchPage: (cursor) => {
      const f = $("#jobs-filters").elements;
      return api("GET", `${API}/admin/jobs`, { query: { queue: f.queue.value.trim(), status: f.status.value, cursor } });
    },
    render: jobRow,
  });

  function jobRow(job) {
    const retry = job.status === "dead"
      ? el("button", { type: "button", class: "small" }, "Retry")
      : null;
    const row = el("tr", {},
      el("td", {}, code(job.job_id)), el("td", {}, job.queue), el("td", {}, code(job.key)), el("td", {}, badge(job.status)),
      el("td", { class: "num" }, `${job.attempts} / ${job.max_attempts}`),
      el("td", { class: "wrap error-text" }, dash(job.last_error)),
      el("td", {}, when(job.run_at)), el("td", {}, when(job.created_at)), el("td", {}, when(job.finished_at)),
      el("td", {}, retry));
    if (retry) {
      retry.addEventListener("click", async () => {
        retry.disabled = true;
        try {
          const again = await api("POST", `${API}/admin/jobs/${encodeURIComponent(job.job_id)}/retry`);
          row.replaceWith(jobRow(again));
          notify("Job queued again.");
        } catch (err) {
          retry.disabled = false;
          showError(err);
        }
      });
    }
    return row;
  }

  views.jobs = {
    adminOnly: true,
    open: () => loadJobs(),
  };

  async function loadJobs() {
    try {
      await jobs.reload();
      $("#jobs-unavailable").hidden = true;
      $("#jobs-table").hidden = false;
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) {
        hideBanner();
        $("#jobs-unavailable").hidden = false;
        $("#jobs-table").hidden = true;
        $("#jobs-empty").hidden = true;
      }
    }
  }

  // -- Mailbox ----------------------------------------------------------------------------

  const mailbox = pager({
    rows: $("#mailbox-rows"),
    empty: $("#mailbox-empty"),
    more: $("#mailbox-more"),
    fetchPage: (cursor) => api("GET", `${API}/admin/mailbox`, { query: { to: $("#mailbox-filters").elements.to.value.trim(), cursor } }),
    render: (mail) => expandable([
      el("td", {}, when(mail.created_at)),
      el("td", {}, code(mail.to)),
      el("td", { class: "wrap" }, mail.subject),
      el("td", {}, el("code", { class: "action" }, mail.template)),
    ], el("pre", { class: "mail-body" }, mail.body_text), 4),
  });

  views.mailbox = { adminOnly: true, open: () => mailbox.reload().catch(() => {}) };

  // -- Moderation: the one queue ------------------------------------------------------------

  const QUEUE_HEAD = ["Item", "Kind", "Priority", "Age", "Assignee", "About"];
  const UGC_ACTIONS = ["approve", "reject", "remove", "restore"];
  const FEEDBACK_STATUSES = ["new", "triaged", "in_progress", "resolved", "wont_fix", "duplicate"];

  function age(seconds) {
    if (seconds < 3600) return `${Math.floor(seconds / 60)} min`;
    if (seconds < 86400) return `${Math.floor(seconds / 3600)} h`;
    return `${Math.floor(seconds / 86400)} d`;
  }

  // What the item is about, in one line: the content's name, the reasons and counts, the
  // appeal's target, the feedback's category.
  function about(item) {
    const s = item.subject || {};
    if (item.type === "ugc_review") {
      const reports = Object.entries(s.reports || {}).map(([reason, n]) => `${reason} ×${n}`).join(", ");
      return [code(s.ugc_id), " ", dash(s.name), " · ", dash(s.ugc_type), reports ? ` · reported: ${reports}` : ""];
    }
    if (item.type === "report") {
      const reasons = Object.entries(s.reasons || {}).map(([reason, n]) => `${reason} ×${n}`).join(", ");
      const target = s.target || {};
      return [dash(target.type), " ", code(target.id), ` · ${dash(s.reporters)} reporters · ${reasons}`];
    }
    if (item.type === "appeal") {
      const target = s.target || {};
      return [`appeal against ${dash(target.type)} `, code(target.id), " · ", dash(s.message)];
    }
    return [dash(s.category), " · ", dash(s.message)];
  }

  function queueCells(item) {
    return [el("td", {}, code(item.item_id)), el("td", {}, item.type), el("td", {}, String(item.priority)),
      el("td", {}, age(item.age_seconds)), el("td", {}, item.assignee ? playerLink(item.assignee) : el("span", { class: "muted" }, "nobody")),
      el("td", { class: "wrap" }, about(item))];
  }

  // The content under review as a moderator needs to see it: the image, the text, the files.
  function previewOf(preview) {
    if (!preview) return null;
    if (preview.kind === "image") return el("img", { class: "preview", src: preview.url, alt: "content under review" });
    if (preview.kind === "video") return el("video", { class: "preview", src: preview.url, controls: true });
    if (preview.kind === "text") return el("pre", { class: "json preview" }, preview.text, preview.truncated ? "\n…" : "");
    if (preview.kind === "files") {
      const rows = (preview.files || []).map((f) => el("tr", {}, el("td", {}, f.name), el("td", {}, String(f.size))));
      return el("div", {}, el("p", {}, `Archive of ${preview.size} bytes`), preview.files ? table(["File", "Bytes"], rows) : el("p", { class: "muted" }, "too large to list"));
    }
    return el("p", { class: "muted" }, `No preview: ${dash(preview.reason)}`);
  }

  function actionButton(label, danger, run) {
    const button = el("button", { type: "button", class: danger ? "danger" : "primary" }, label);
    button.addEventListener("click", async () => {
      button.disabled = true;
      try {
        await run();
        notify(`Done: ${label}.`);
        views.moderation.open();
      } catch (err) {
        showError(err);
      } finally {
        button.disabled = false;
      }
    });
    return button;
  }

  function queueActions(item, notes) {
    const s = item.subject || {};
    const id = encodeURIComponent;
    if (item.type === "ugc_review") {
      return UGC_ACTIONS.map((action) => actionButton(action, action === "remove" || action === "reject", () =>
        api("POST", `${API}/moderation/ugc/${id(s.ugc_id)}/decision`, { body: { action, notes: notes.value.trim() || undefined } })));
    }
    if (item.type === "report") {
      return [
        actionButton("action taken", false, () => api("POST", `${API}/moderation/report-groups/${id(s.group_id)}/decision`, { body: { action: "action", notes: notes.value.trim() || undefined } })),
        actionButton("dismiss", true, () => api("POST", `${API}/moderation/report-groups/${id(s.group_id)}/decision`, { body: { action: "dismiss", notes: notes.value.trim() || undefined } })),
      ];
    }
    if (item.type === "appeal") {
      return ["grant", "deny"].map((action) => actionButton(action, action === "deny", () =>
        api("POST", `${API}/moderation/appeals/${id(s.appeal_id || item.subject.appeal_id)}/decision`, { body: { action, notes: notes.value.trim() || undefined } })));
    }
    const status = el("select", { name: "status", "aria-label": "Feedback status" }, FEEDBACK_STATUSES.map((v) => el("option", { value: v }, v)));
    const reply = el("textarea", { name: "reply", rows: 2, maxlength: 4000, placeholder: "Reply to the player (optional)" });
    return [status, reply, actionButton("save", false, () => api("PATCH", `${API}/moderation/feedback/${id(s.feedback_id)}`, {
      body: { status: status.value, notes: notes.value.trim() || undefined, reply: reply.value.trim() || undefined },
    }))];
  }

  // Feedback's attachments: a clean one opens by a short-lived link; others say why not.
  async function feedbackFiles(feedbackId) {
    const feedback = await api("GET", `${API}/moderation/feedback/${encodeURIComponent(feedbackId)}`);
    if (!feedback.attachments.length) return el("p", { class: "muted" }, "No attachments.");
    return table(["File", "Bytes", "Scan", ""], feedback.attachments.map((a) => el("tr", {},
      el("td", {}, a.filename), el("td", {}, String(a.size)), el("td", {}, a.scan_state),
      el("td", {}, a.scan_state === "clean" ? actionButtonInline("open", async () => {
        const link = await api("GET", `${API}/moderation/feedback/${encodeURIComponent(feedbackId)}/attachments/${encodeURIComponent(a.filename)}`);
        window.open(link.url, "_blank", "noopener");
      }, "primary") : ""))));
  }

  function queueDetail(item) {
    const box = el("div", { class: "audit-detail" }, el("p", { class: "muted" }, "Loading…"));
    let loaded = false;
    box.load = async () => {
      if (loaded) return;
      loaded = true;
      try {
        const detail = await api("GET", `${API}/moderation/queue/${encodeURIComponent(item.item_id)}`);
        const notes = el("textarea", { name: "notes", rows: 2, maxlength: 2000, placeholder: "Notes (recorded in the audit log)" });
        const take = actionButton("take", false, () => api("POST", `${API}/moderation/queue/${encodeURIComponent(item.item_id)}/assign`));
        const extra = detail.type === "feedback" ? await feedbackFiles(detail.subject.feedback_id) : "";
        box.replaceChildren(previewOf(detail.preview) || "", extra, json(detail.subject), el("div", { class: "filters" }, take, notes, queueActions(detail, notes)));
      } catch (err) {
        loaded = false;
        showError(err);
      }
    };
    return box;
  }

  const moderation = pager({
    rows: $("#moderation-rows"),
    empty: $("#moderation-empty"),
    more: $("#moderation-more"),
    fetchPage: (cursor) => {
      const form = $("#moderation-filters").elements;
      const query = { cursor, status: form.status.value };
      for (const name of ["type", "assignee", "older_than"]) if (form[name].value) query[name] = form[name].value;
      return api("GET", `${API}/moderation/queue`, { query });
    },
    render: (item) => {
      const detail = queueDetail(item);
      const pair = expandable(queueCells(item), detail, QUEUE_HEAD.length);
      pair[0].addEventListener("click", () => detail.load());
      return pair;
    },
  });

  views.moderation = {
    open: () => {
      $("#moderation-head").replaceChildren(...QUEUE_HEAD.map((h) => el("th", {}, h)));
      moderation.reload().catch(() => {});
    },
  };

  // -- Catalog ----------------------------------------------------------------------------

  const itemsOf = (page) => (Array.isArray(page) ? { items: page, next_cursor: null } : page);

  const catalog = pager({
    rows: $("#catalog-rows"),
    empty: $("#catalog-empty"),
    more: $("#catalog-more"),
    fetchPage: async (cursor) => itemsOf(await api("GET", `${API}/admin/skus`, { query: { cursor } })),
    render: skuRow,
  });

  function skuRow(sku) {
    const toggle = el("button", { type: "button", class: "small" }, sku.is_active ? "Deactivate" : "Activate");
    const cells = [
      el("td", {}, code(sku.sku_id)), el("td", {}, sku.type), el("td", {}, dash(sku.name)),
      el("td", { class: "num" }, dash(sku.quantity)), el("td", {}, sku.is_active ? badge("active") : el("span", { class: "badge" }, "inactive")),
      el("td", {}, Object.keys(sku.metadata || {}).map((k) => el("span", { class: "chip chip-other" }, k))), el("td", {}, toggle)];
    const pair = expandable(cells, json(sku), 7);
    toggle.addEventListener("click", async () => {
      toggle.disabled = true;
      try {
        const updated = await api("PATCH", `${API}/admin/skus/${encodeURIComponent(sku.sku_id)}`, { body: { is_active: !sku.is_active } });
        const fresh = skuRow(updated);
        pair[0].replaceWith(...fresh);
        pair[1].remove();
        notify(updated.is_active ? "SKU active." : "SKU deactivated.");
      } catch (err) {
        toggle.disabled = false;
        showError(err);
      }
    });
    return pair;
  }

  function parseJsonField(form, name, fallback) {
    const text = form.elements[name].value.trim();
    if (!text) return fallback;
    try { return JSON.parse(text); } catch { throw new Error(`${name}: not valid JSON`); }
  }

  async function createSku(event) {
    const form = event.currentTarget;
    try {
      const f = form.elements;
      const body = { sku_id: f.sku_id.value.trim(), type: f.type.value, name: f.name.value.trim(), description: f.description.value.trim(),
        metadata: parseJsonField(form, "metadata", {}) };
      if (f.type.value === "consumable") body.quantity = Number(f.quantity.value || 1);
      if (f.type.value === "bundle") body.contents = parseJsonField(form, "contents", []);
      await api("POST", `${API}/admin/skus`, { body });
      form.reset();
      notify("SKU created.");
      catalog.reload().catch(() => {});
    } catch (err) {
      showError(err);
    }
  }

  async function refundOrder(event) {
    const form = event.currentTarget;
    const id = form.elements.order_id.value.trim();
    if (!window.confirm(`Refund order ${id} with the platform and revoke what it granted?`)) return;
    try {
      await api("POST", `${API}/admin/orders/${encodeURIComponent(id)}/refund`, { body: { reason: form.elements.reason.value.trim() } });
      form.reset();
      notify("Order refunded; what it granted is revoked.");
    } catch (err) {
      showError(err);
    }
  }

  views.catalog = { adminOnly: true, open: () => catalog.reload().catch(() => {}) };

  // -- Seasons ----------------------------------------------------------------------------

  const seasons = pager({
    rows: $("#seasons-rows"),
    empty: $("#seasons-empty"),
    more: $("#seasons-more"),
    fetchPage: async (cursor) => itemsOf(await api("GET", `${API}/admin/seasons`, { query: { cursor } })),
    render: seasonRow,
  });

  function seasonRow(season) {
    const close = season.is_active ? el("button", { type: "button", class: "small danger" }, "Close now") : null;
    const top = el("div", {}, el("p", { class: "muted" }, "Loading the top 20…"));
    const cells = [
      el("td", {}, code(season.season_id)), el("td", {}, dash(season.name)), el("td", {}, season.type), el("td", {}, season.sort),
      el("td", {}, season.operator), el("td", {}, when(season.start_date)), el("td", {}, when(season.end_date)),
      el("td", {}, season.is_active ? badge("active") : el("span", { class: "badge" }, "closed")), el("td", {}, close)];
    const pair = expandable(cells, el("div", {}, json(season), top), 9);
    pair[0].addEventListener("click", async () => {
      try {
        const board = await api("GET", `${API}/leaderboards/${encodeURIComponent(season.season_id)}`, { query: { limit: 20 } });
        top.replaceChildren(board.items.length ? table(["Rank", "Player", "Name", "Score", "Submitted"], board.items.map((e) => el("tr", {},
          el("td", { class: "num" }, e.rank), el("td", {}, playerLink(e.user.canonical_id)), el("td", {}, dash(e.user.display_name)),
          el("td", { class: "num" }, e.score), el("td", {}, when(e.submitted_at))))) : emptyNote("No scores yet."));
      } catch (err) {
        top.replaceChildren(emptyNote("The board could not be loaded."));
      }
    }, { once: true });
    if (close) {
      close.addEventListener("click", async () => {
        if (!window.confirm(`Close ${season.season_id} now? New scores are refused and final ranks frozen.`)) return;
        close.disabled = true;
        try {
          const closed = await api("POST", `${API}/admin/seasons/${encodeURIComponent(season.season_id)}/close`);
          pair[0].replaceWith(...seasonRow(closed));
          pair[1].remove();
          notify("Season closed.");
        } catch (err) {
          close.disabled = false;
          showError(err);
        }
      });
    }
    return pair;
  }

  async function createSeason(event) {
    const form = event.currentTarget;
    try {
      const f = form.elements;
      const body = { season_id: f.season_id.value.trim(), name: f.name.value.trim(), type: f.type.value, sort: f.sort.value,
        operator: f.operator.value, reset_rule: f.reset_rule.value, start_date: localToIso(f.start_date.value),
        end_date: localToIso(f.end_date.value), metadata: parseJsonField(form, "metadata", {}) };
      await api("POST", `${API}/admin/seasons`, { body });
      form.reset();
      notify("Season created.");
      seasons.reload().catch(() => {});
    } catch (err) {
      showError(err);
    }
  }

  views.seasons = { adminOnly: true, open: () => seasons.reload().catch(() => {}) };

  // -- Live configuration -------------------------------------------------------------------

  let configEtag = "\"0\"";

  async function loadConfig() {
    try {
      const doc = await api("GET", `${API}/admin/config`);
      configEtag = `"${doc.version}"`;
      $("#config-version").textContent = doc.version ? `Version ${doc.version} by ${doc.author}` : "No version yet";
      $("#config-form").elements.document.value = JSON.stringify({ values: doc.values, schemas: doc.schemas, overrides: doc.overrides }, null, 2);
    } catch (err) {
      showError(err);
    }
    configHistory.reload().catch(() => {});
  }

  async function saveConfig(event) {
    const form = event.currentTarget;
    let doc;
    try {
      doc = JSON.parse(form.elements.document.value);
    } catch {
      showBanner("The document is not valid JSON.", { codeText: "client_error" });
      return;
    }
    const body = { values: doc.values || {}, schemas: doc.schemas || {}, overrides: doc.overrides || [] };
    const reason = form.elements.reason.value.trim();
    if (reason) body.reason = reason;
    try {
      await api("PUT", `${API}/admin/config`, { body, extraHeaders: { "If-Match": configEtag } });
      form.elements.reason.value = "";
      notify("Saved as a new version.");
      loadConfig();
    } catch (err) {
      showError(err); // a 422 lists each failing value with its path
    }
  }

  const configHistory = pager({
    rows: $("#config-history"),
    empty: $("#config-history-empty"),
    more: $("#config-history-more"),
    fetchPage: (cursor) => api("GET", `${API}/admin/config/history`, { query: { cursor } }),
    render: historyRow,
  });

  function historyRow(item) {
    const back = el("button", { type: "button", class: "small" }, "Roll back to this");
    back.addEventListener("click", async () => {
      if (!window.confirm(`Bring back version ${item.version} as a new version?`)) return;
      try {
        await api("POST", `${API}/admin/config/rollback`, { body: { version: item.version } });
        notify(`Version ${item.version} is live again.`);
        loadConfig();
      } catch (err) {
        showError(err);
      }
    });
    const diff = item.diff.length
      ? table(["Key", "Change", "Old", "New"], item.diff.map((c) => el("tr", {},
        el("td", {}, code(c.key)), el("td", {}, c.op), el("td", {}, cellValue(c.old)), el("td", {}, cellValue(c.new)))))
      : emptyNote("Nothing changed.");
    const reason = item.rolled_back_to ? `${dash(item.reason)} (rollback to ${item.rolled_back_to})` : dash(item.reason);
    return expandable([el("td", { class: "num" }, item.version), el("td", {}, when(item.created_at)), el("td", {}, code(item.author)),
      el("td", {}, reason), el("td", {}, back)], diff, 5);
  }

  views.config = { adminOnly: true, open: loadConfig };

  // -- Flags and experiments ----------------------------------------------------------------

  async function loadFlags() {
    try {
      const [flags, experiments] = await Promise.all([api("GET", `${API}/admin/flags`), api("GET", `${API}/admin/experiments`)]);
      $("#flags-rows").replaceChildren(...flags.flatMap(flagRow));
      $("#flags-empty").hidden = flags.length > 0;
      $("#experiments-rows").replaceChildren(...experiments.flatMap(experimentRow));
      $("#experiments-empty").hidden = experiments.length > 0;
    } catch (err) {
      showError(err);
    }
  }

  function flagBody(flag, enabled) {
    const body = { enabled };
    if (flag.rollout_percent !== null && flag.rollout_percent !== undefined) body.rollout_percent = flag.rollout_percent;
    if (flag.segment) body.segment = flag.segment;
    if (flag.description) body.description = flag.description;
    return body;
  }

  function flagRow(flag) {
    const toggle = el("button", { type: "button", class: flag.enabled ? "small danger" : "small" }, flag.enabled ? "Kill" : "Enable");
    toggle.addEventListener("click", async () => {
      if (flag.enabled && !window.confirm(`Turn ${flag.name} off for everyone?`)) return;
      try {
        await api("PUT", `${API}/admin/flags/${encodeURIComponent(flag.name)}`, { body: flagBody(flag, !flag.enabled) });
        notify(flag.enabled ? "Flag off for everyone." : "Flag on.");
        loadFlags();
      } catch (err) {
        showError(err);
      }
    });
    const remove = el("button", { type: "button", class: "small ghost" }, "Delete");
    remove.addEventListener("click", async () => {
      if (!window.confirm(`Delete the flag ${flag.name}?`)) return;
      try {
        await api("DELETE", `${API}/admin/flags/${encodeURIComponent(flag.name)}`);
        notify("Flag deleted.");
        loadFlags();
      } catch (err) {
        showError(err);
      }
    });
    return expandable([el("td", {}, code(flag.name)), el("td", {}, flag.enabled ? badge("active") : el("span", { class: "badge" }, "off")),
      el("td", { class: "num" }, dash(flag.rollout_percent)), el("td", {}, cellValue(flag.segment)), el("td", {}, when(flag.updated_at)),
      el("td", {}, toggle, " ", remove)], json(flag), 6);
  }

  function experimentRow(experiment) {
    const variants = experiment.variants.map((v) => `${v.name} (${v.weight})`).join(", ");
    const exposures = el("button", { type: "button", class: "small" }, "Download exposures (CSV)");
    exposures.addEventListener("click", () => downloadExposures(experiment.name).catch(showError));
    return expandable([el("td", {}, code(experiment.name)), el("td", {}, variants), el("td", {}, when(experiment.starts_at)),
      el("td", {}, when(experiment.ends_at)), el("td", {}, cellValue(experiment.segment))], el("div", {}, json(experiment), exposures), 5);
  }

  // The CSV needs the bearer token, so it is fetched here and handed to the browser as a file.
  async function downloadExposures(name) {
    if (Date.now() > session.expiresAt - 5000) await refreshSession();
    const response = await fetch(`${API}/admin/experiments/${encodeURIComponent(name)}/exposures`, {
      headers: { Authorization: `Bearer ${session.access}` }, credentials: "omit", cache: "no-store",
    });
    if (!response.ok) throw new ApiError(response.status, await response.json().catch(() => ({})));
    const url = URL.createObjectURL(await response.blob());
    const link = el("a", { href: url, download: `${name}-exposures.csv` });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  }

  async function putFlag(event) {
    const form = event.currentTarget;
    try {
      const f = form.elements;
      const body = { enabled: f.enabled.checked };
      if (f.rollout_percent.value !== "") body.rollout_percent = Number(f.rollout_percent.value);
      const segment = parseJsonField(form, "segment", null);
      if (segment) body.segment = segment;
      await api("PUT", `${API}/admin/flags/${encodeURIComponent(f.name.value.trim())}`, { body });
      form.reset();
      notify("Flag saved.");
      loadFlags();
    } catch (err) {
      showError(err);
    }
  }

  async function putExperiment(event) {
    const form = event.currentTarget;
    try {
      const f = form.elements;
      const body = { variants: parseJsonField(form, "variants", []), starts_at: localToIso(f.starts_at.value), ends_at: localToIso(f.ends_at.value) };
      const segment = parseJsonField(form, "segment", null);
      if (segment) body.segment = segment;
      await api("PUT", `${API}/admin/experiments/${encodeURIComponent(f.name.value.trim())}`, { body });
      form.reset();
      notify("Experiment saved.");
      loadFlags();
    } catch (err) {
      showError(err);
    }
  }

  views.flags = { adminOnly: true, open: loadFlags };

  // -- Data requests (export and erasure) ---------------------------------------------------

  async function loadPrivacy() {
    const f = $("#privacy-filters").elements;
    try {
      const requests = await api("GET", `${API}/admin/privacy-requests`, { query: { kind: f.kind.value, status: f.status.value } });
      $("#privacy-rows").replaceChildren(...requests.map((r) => {
        const url = typeof r.download_url === "string" && r.download_url.startsWith("http") ? r.download_url : null;
        return el("tr", {}, el("td", {}, code(r.request_id)), el("td", {}, r.kind), el("td", {}, badge(r.status)),
          el("td", {}, playerLink(r.canonical_id)), el("td", {}, code(r.requested_by)), el("td", {}, when(r.created_at)),
          el("td", {}, when(r.erase_at)), el("td", {}, when(r.completed_at)),
          el("td", {}, url ? el("a", { href: url, rel: "noreferrer" }, "Download") : null));
      }));
      $("#privacy-empty").hidden = requests.length > 0;
    } catch (err) {
      showError(err);
    }
  }

  async function askPrivacy(event) {
    const form = event.currentTarget;
    const id = form.elements.canonical_id.value.trim();
    const action = form.elements.action.value === "erase" ? "erase" : "export";
    if (action === "erase" && !window.confirm(`Schedule the erasure of ${id}? They are signed out now; signing in again before it runs cancels it.`)) return;
    try {
      if (action === "erase") await api("POST", `${API}/admin/users/${encodeURIComponent(id)}/erase`);
      else await api("POST", `${API}/admin/users/${encodeURIComponent(id)}/export`);
      form.reset();
      notify(action === "erase" ? "Erasure scheduled." : "Export asked for.");
      loadPrivacy();
    } catch (err) {
      showError(err);
    }
  }

  views.privacy = { adminOnly: true, open: loadPrivacy };

  // -- Drops ------------------------------------------------------------------------------

  const campaigns = pager({
    rows: $("#campaigns-rows"),
    empty: $("#campaigns-empty"),
    more: $("#campaigns-more"),
    fetchPage: async (cursor) => itemsOf(await api("GET", `${API}/admin/campaigns`, { query: { cursor } })),
    render: campaignRow,
  });

  function campaignRow(campaign) {
    const stats = el("div", {}, el("p", { class: "muted" }, "Loading the numbers…"));
    const rewards = campaign.rewards.map((r) => `${r.benefit_id} → ${r.grants.map((g) => `${g.quantity} × ${g.sku_id}`).join(", ")}`);
    const cells = [
      el("td", {}, code(campaign.campaign_id)), el("td", {}, campaign.name), el("td", {}, code(campaign.twitch_game_id)),
      el("td", {}, when(campaign.starts_at)), el("td", {}, when(campaign.ends_at)), el("td", {}, badge(campaign.status)),
      el("td", { class: "wrap" }, rewards.join("; "))];
    const next = { draft: "active", active: "ended" }[campaign.status];
    const change = next ? el("button", { type: "button", class: "small" }, next === "active" ? "Activate" : "End") : null;
    const pair = expandable(cells, el("div", {}, stats, change, json(campaign)), 7);
    pair[0].addEventListener("click", async () => {
      try {
        const s = await api("GET", `${API}/admin/campaigns/${encodeURIComponent(campaign.campaign_id)}/stats`);
        stats.replaceChildren(table(["Granted", "Waiting for a link", "Fulfilled", "Failed"], [el("tr", {},
          el("td", { class: "num" }, s.granted), el("td", { class: "num" }, s.pending_link),
          el("td", { class: "num" }, s.fulfilled), el("td", { class: "num" }, s.failed))]));
      } catch (err) {
        stats.replaceChildren(emptyNote("The numbers could not be loaded."));
      }
    }, { once: true });
    if (change) {
      change.addEventListener("click", async () => {
        change.disabled = true;
        try {
          const updated = await api("PATCH", `${API}/admin/campaigns/${encodeURIComponent(campaign.campaign_id)}`, { body: { status: next } });
          pair[0].replaceWith(...campaignRow(updated));
          pair[1].remove();
          notify(`Campaign ${next === "active" ? "activated" : "ended"}.`);
        } catch (err) {
          change.disabled = false;
          showError(err);
        }
      });
    }
    return pair;
  }

  const unmapped = pager({
    rows: $("#unmapped-rows"),
    empty: $("#unmapped-empty"),
    more: $("#unmapped-more"),
    fetchPage: async (cursor) => itemsOf(await api("GET", `${API}/admin/drops/unmapped`, { query: { cursor } })),
    render: (d) => el("tr", {}, el("td", {}, code(d.entitlement_id)), el("td", {}, code(d.benefit_id)), el("td", {}, code(d.game_id)),
      el("td", {}, code(d.twitch_user_id)), el("td", {}, d.source), el("td", {}, when(d.created_at))),
  });

  async function loadSubscriptions() {
    const subs = await api("GET", `${API}/admin/twitch/subscriptions`);
    $("#subscriptions-rows").replaceChildren(...subs.map((s) => el("tr", {},
      el("td", {}, code(s.subscription_id)), el("td", {}, `${s.type} v${s.version}`),
      el("td", {}, Object.entries(s.condition).map(([k, v]) => `${k}=${v}`).join(", ")),
      el("td", {}, badge(s.status)), el("td", {}, when(s.updated_at)), el("td", {}, when(s.revoked_at)))));
    $("#subscriptions-empty").hidden = subs.length > 0;
  }

  function loadDrops() {
    campaigns.reload().catch(() => {});
    unmapped.reload().catch(() => {});
    loadSubscriptions().catch(() => {});
  }

  async function createCampaign(event) {
    const form = event.currentTarget;
    try {
      const f = form.elements;
      const body = { name: f.name.value.trim(), twitch_game_id: f.twitch_game_id.value.trim(),
        starts_at: localToIso(f.starts_at.value), ends_at: localToIso(f.ends_at.value),
        rewards: parseJsonField(form, "rewards", []), status: f.status.value };
      await api("POST", `${API}/admin/campaigns`, { body });
      form.reset();
      notify("Campaign created.");
      campaigns.reload().catch(() => {});
    } catch (err) {
      showError(err);
    }
  }

  views.drops = { adminOnly: true, open: loadDrops };

  // -- Webhooks ---------------------------------------------------------------------------

  const webhooks = pager({
    rows: $("#webhooks-rows"),
    empty: $("#webhooks-empty"),
    more: $("#webhooks-more"),
    fetchPage: (cursor) => {
      const f = $("#webhooks-filters").elements;
      return api("GET", `${API}/admin/webhook-events`, { query: { provider: f.provider.value, status: f.status.value, cursor } });
    },
    render: webhookRow,
  });

  function webhookRow(event) {
    const replay = el("button", { type: "button", class: "small" }, "Replay");
    const cells = [
      el("td", {}, code(event.event_id)), el("td", {}, event.provider),
      el("td", {}, event.subscription_type ? `${event.message_type} (${event.subscription_type})` : event.message_type),
      el("td", {}, badge(event.status)), el("td", { class: "num" }, event.attempts),
      el("td", { class: "wrap error-text" }, dash(event.last_error)), el("td", {}, when(event.received_at)), el("td", {}, replay)];
    const pair = expandable(cells, el("div", {}, json(event)), 8);
    replay.addEventListener("click", async (click) => {
      click.stopPropagation();
      replay.disabled = true;
      try {
        const again = await api("POST", `${API}/admin/webhook-events/${encodeURIComponent(event.event_id)}/replay`);
        pair[0].replaceWith(...webhookRow(again));
        pair[1].remove();
        notify("Event queued again.");
      } catch (err) {
        replay.disabled = false;
        showError(err);
      }
    });
    return pair;
  }

  views.webhooks = { adminOnly: true, open: () => webhooks.reload().catch(() => {}) };

  // -- Broadcasts -------------------------------------------------------------------------

  const broadcasts = pager({
    rows: $("#broadcasts-rows"),
    empty: $("#broadcasts-empty"),
    more: $("#broadcasts-more"),
    fetchPage: async (cursor) => itemsOf(await api("GET", `${API}/admin/broadcasts`, { query: { cursor } })),
    render: broadcastRow,
  });

  function broadcastRow(b) {
    const cancel = b.status === "scheduled" ? el("button", { type: "button", class: "small danger" }, "Cancel") : null;
    const cells = [
      el("td", {}, code(b.broadcast_id)), el("td", {}, b.kind), el("td", {}, dash(b.title.en)), el("td", {}, badge(b.status)),
      el("td", {}, when(b.send_at)), el("td", {}, when(b.expires_at)), el("td", { class: "num" }, dash(b.recipients)),
      el("td", { class: "num" }, dash(b.read)), el("td", { class: "num" }, dash(b.claimed)), el("td", {}, cancel)];
    const pair = expandable(cells, el("div", {}, json(b)), 10);
    if (cancel) {
      cancel.addEventListener("click", async () => {
        if (!window.confirm(`Cancel ${b.broadcast_id}? Players will never see it.`)) return;
        cancel.disabled = true;
        try {
          const cancelled = await api("POST", `${API}/admin/broadcasts/${encodeURIComponent(b.broadcast_id)}/cancel`);
          pair[0].replaceWith(...broadcastRow(cancelled));
          pair[1].remove();
        } catch (err) {
          cancel.disabled = false;
          showError(err);
        }
      });
    }
    return pair;
  }

  function textOrLocales(value) {
    const text = value.trim();
    if (text.startsWith("{")) {
      try { return JSON.parse(text); } catch { return text; }
    }
    return text;
  }

  async function createBroadcast(event) {
    const form = event.currentTarget;
    try {
      const f = form.elements;
      const body = { kind: f.kind.value, title: textOrLocales(f.title.value), body: textOrLocales(f.body.value),
        attachments: parseJsonField(form, "attachments", []) };
      const segment = parseJsonField(form, "segment", null);
      if (segment) body.segment = segment;
      if (f.send_at.value) body.send_at = localToIso(f.send_at.value);
      if (f.expires_at.value) body.expires_at = localToIso(f.expires_at.value);
      const sent = await api("POST", `${API}/admin/broadcasts`, { body });
      form.reset();
      notify(sent.status === "scheduled" ? "Broadcast scheduled." : "Broadcast sent.");
      broadcasts.reload().catch(() => {});
    } catch (err) {
      showError(err);
    }
  }

  views.broadcasts = { adminOnly: true, open: () => broadcasts.reload().catch(() => {}) };

  // -- Wiring -----------------------------------------------------------------------------

  function onSubmit(selector, handler) {
    $(selector).addEventListener("submit", (event) => { event.preventDefault(); handler(event); });
  }

  async function boot() {
    $("#banner-close").addEventListener("click", hideBanner);
    $("#signin-form").addEventListener("submit", signIn);
    $("#signout").addEventListener("click", signOut);
    $("#overview-refresh").addEventListener("click", loadOverview);
    $("#player-reload").addEventListener("click", () => currentPlayer && loadPlayer(currentPlayer));
    onSubmit("#players-search", () => players.reload().catch(() => {}));
    onSubmit("#audit-filters", applyAuditFilters);
    $("#audit-clear").addEventListener("click", () => { $("#audit-filters").reset(); applyAuditFilters(); });
    onSubmit("#jobs-filters", loadJobs);
    onSubmit("#mailbox-filters", () => mailbox.reload().catch(() => {}));
    onSubmit("#moderation-filters", () => views.moderation.open());
    // Choosing another kind of work shows it at once (it used to wait for a button press).
    $("#moderation-filters select[name=type]").addEventListener("change", () => views.moderation.open());
    onSubmit("#sku-form", createSku);
    onSubmit("#refund-form", refundOrder);
    onSubmit("#season-form", createSeason);
    onSubmit("#broadcast-form", createBroadcast);
    $("#broadcasts-refresh").addEventListener("click", () => broadcasts.reload().catch(() => {}));
    onSubmit("#campaign-form", createCampaign);
    onSubmit("#webhooks-filters", () => webhooks.reload().catch(() => {}));
    $("#drops-refresh").addEventListener("click", loadDrops);
    $("#catalog-refresh").addEventListener("click", () => catalog.reload().catch(() => {}));
    $("#seasons-refresh").addEventListener("click", () => seasons.reload().catch(() => {}));
    onSubmit("#config-form", saveConfig);
    onSubmit("#flag-form", putFlag);
    onSubmit("#experiment-form", putExperiment);
    $("#flags-refresh").addEventListener("click", loadFlags);
    onSubmit("#privacy-filters", loadPrivacy);
    onSubmit("#privacy-form", askPrivacy);
    window.addEventListener("hashchange", route);

    if (!sessionStorage.getItem(REFRESH_KEY)) {
      showSignIn();
      return;
    }
    try {
      await refreshSession();
      enterConsole();
    } catch (err) {
      if ($("#signin-view").hidden) showSignIn();
      if (!(err instanceof ApiError && err.status < 500 && err.status !== 0)) showError(err);
    }
  }

  document.addEventListener("DOMContentLoaded", boot);
})();
