// Progressive enhancement of the console: every page works without it.
"use strict";
(function () {
  const csrf = document.querySelector('meta[name="csrf-token"]')?.content || "";

  function jsonFetch(url, method, body) {
    return fetch(url, {
      method: method,
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "Accept": "application/json",
        "X-CSRF-Token": csrf },
      body: body === undefined ? undefined : JSON.stringify(body),
    }).then((r) => (r.ok ? r.json() : Promise.reject(r)));
  }

  // "/" focuses the queue search box.
  const search = document.querySelector("[data-shortcut='/']");
  if (search) {
    document.addEventListener("keydown", (e) => {
      const typing = /INPUT|TEXTAREA|SELECT/.test(document.activeElement?.tagName || "");
      if (e.key === "/" && !typing) { e.preventDefault(); search.focus(); }
    });
  }

  const form = document.getElementById("compose-form");
  const root = document.querySelector(".conversation");
  if (!form || !root) return;
  const ticket = root.dataset.ticket;
  const list = document.getElementById("findings");
  const presence = document.getElementById("presence");
  let drafting = false;
  let timer = null;
  let seq = 0;

  function show(findings) {
    list.replaceChildren();
    if (findings.length === 0) {
      const li = document.createElement("li");
      li.className = "clear";
      li.textContent = "誤送信のおそれは見つかりませんでした";
      list.append(li);
      return;
    }
    for (const f of findings) {
      const li = document.createElement("li");
      li.className = f.severity;
      li.dataset.code = f.code;
      li.textContent = (f.severity === "block" ? "送信不可: " : "注意: ") + f.detail;
      list.append(li);
    }
  }

  function check() {
    const mine = ++seq;
    const data = {
      to: form.elements.to.value, cc: form.elements.cc.value,
      subject: form.elements.subject.value, body: form.elements.body.value,
    };
    jsonFetch(form.dataset.check, "POST", data)
      .then((r) => { if (mine === seq) show(r.findings); })
      .catch(() => {
        if (mine !== seq) return;
        list.replaceChildren();
        const li = document.createElement("li");
        li.className = "warn";
        li.textContent = "チェックを実行できませんでした。保存時に再確認されます";
        list.append(li);
      });
  }

  function typed() {
    if (!drafting) { drafting = true; beat(); }
    clearTimeout(timer);
    timer = setTimeout(check, 400);
  }
  for (const name of ["to", "cc", "subject", "body"]) {
    form.elements[name].addEventListener("input", typed);
  }

  for (const button of document.querySelectorAll(".faq-insert")) {
    button.addEventListener("click", () => {
      const body = form.elements.body;
      const at = body.selectionStart ?? body.value.length;
      body.value = body.value.slice(0, at) + button.dataset.text + body.value.slice(at);
      body.focus();
      typed();
    });
  }

  function beat() {
    jsonFetch("/console/api/inbox/" + ticket + "/presence", "PUT",
      { activity: drafting ? "drafting" : "viewing" })
      .then((r) => {
        presence.replaceChildren(...r.presence.map((label) => {
          const s = document.createElement("span");
          s.textContent = label;
          return s;
        }));
      })
      .catch(() => {});
  }
  beat();
  setInterval(beat, 15000);
  if (form.elements.body.value) check();
})();
