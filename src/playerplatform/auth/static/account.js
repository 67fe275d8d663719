// The verification and password-reset pages: read the token from the address, call the API.
"use strict";

(function () {
  const page = document.body.dataset.page;
  const token = new URLSearchParams(window.location.search).get("token") || "";
  const form = document.getElementById("form");
  const submit = document.getElementById("submit");
  const status = document.getElementById("status");

  function show(text, ok) {
    status.textContent = text;
    status.className = ok ? "ok" : "bad";
    status.hidden = false;
  }

  async function post(path, body) {
    const response = await fetch(path, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
    if (response.ok) return null;
    try {
      const problem = await response.json();
      return problem.detail || problem.title || "The request failed (" + response.status + ").";
    } catch (_) {
      return "The request failed (" + response.status + ").";
    }
  }

  function done() {
    form.hidden = true;
    document.getElementById("intro").hidden = true;
  }

  if (token.length < 10) {
    form.hidden = true;
    show("This link has no token. Open the link from the mail again, or ask for a new mail.", false);
    return;
  }

  form.addEventListener("submit", async function (event) {
    event.preventDefault();
    submit.disabled = true;
    let error;
    if (page === "verify") {
      error = await post("/api/v1/auth/email/verify", { token: token });
      if (!error) {
        done();
        show("Your address is confirmed. You can close this page.", true);
      }
    } else {
      const password = document.getElementById("password").value;
      if (password !== document.getElementById("repeat").value) {
        submit.disabled = false;
        show("The two passwords differ.", false);
        return;
      }
      error = await post("/api/v1/auth/email/password-reset/confirm", { token: token, password: password });
      if (!error) {
        done();
        show("Your password is set. Sign in with it in the game.", true);
      }
    }
    if (error) {
      submit.disabled = false;
      show(error, false);
    }
  });
})();
