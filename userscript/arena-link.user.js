// ==UserScript==
// @name         ArenaMesh link
// @namespace    arenamesh
// @version      0.1.0
// @description  Lets an ArenaMesh node run LMArena requests in this logged-in tab.
// @match        https://lmarena.ai/*
// @match        https://*.lmarena.ai/*
// @match        https://arena.ai/*
// @match        https://*.arena.ai/*
// @grant        none
// @run-at       document-idle
// ==/UserScript==

// Speaks LINK-PROTOCOL.md version 1 with the node at LINK_URL. The node fills in
// LINK_URL and LINK_TOKEN when it serves this file at /userscript.user.js.
(function () {
  "use strict";

  const LINK_URL = "__ARENA_LINK_URL__";
  const LINK_TOKEN = "__ARENA_LINK_TOKEN__";
  const VERSION = "1";
  const TAB_KEY = "arenamesh-tab-id";

  const jobs = new Map(); // job id → AbortController
  let socket = null;
  let backoffMs = 1000;
  const baseTitle = document.title.replace(/^(✅|⏳) /, "");

  function tabId() {
    let id = sessionStorage.getItem(TAB_KEY);
    if (!id) {
      id = crypto.randomUUID();
      sessionStorage.setItem(TAB_KEY, id);
    }
    return id;
  }

  function showState(connected) {
    document.title = (connected ? "✅ " : "⏳ ") + baseTitle;
  }

  function send(frame) {
    if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(frame));
  }

  function pageSitekey() {
    const el = document.querySelector("script[src*='recaptcha'][src*='render=']");
    if (!el) return null;
    const m = /[?&]render=([^&]+)/.exec(el.src);
    return m && m[1] !== "explicit" ? decodeURIComponent(m[1]) : null;
  }

  async function mintToken(rc) {
    const g = window.grecaptcha && window.grecaptcha.enterprise;
    if (!g) throw new Error("grecaptcha.enterprise is not on this page");
    const sitekey = pageSitekey() || rc.sitekey;
    await new Promise((resolve) => g.ready(resolve));
    return g.execute(sitekey, { action: rc.action || "chat_submit" });
  }

  async function runFetch(job) {
    const ctl = new AbortController();
    jobs.set(job.id, ctl);
    let body = job.body;
    try {
      if (job.recaptcha) {
        let token;
        try {
          token = await mintToken(job.recaptcha);
        } catch (e) {
          send({ type: "fail", id: job.id, stage: "recaptcha", message: String(e && e.message || e) });
          return;
        }
        const obj = JSON.parse(body);
        obj[job.recaptcha.field || "recaptchaV3Token"] = token;
        body = JSON.stringify(obj);
      }
      const resp = await fetch(job.url, {
        method: job.method || "POST",
        headers: job.headers || {},
        body,
        credentials: "include",
        signal: ctl.signal,
      });
      const headers = {};
      resp.headers.forEach((v, k) => (headers[k.toLowerCase()] = v));
      send({ type: "head", id: job.id, status: resp.status, headers });
      const reader = resp.body.getReader();
      const decoder = new TextDecoder();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        const text = decoder.decode(value, { stream: true });
        if (text) send({ type: "chunk", id: job.id, data: text });
      }
      const tail = decoder.decode();
      if (tail) send({ type: "chunk", id: job.id, data: tail });
      send({ type: "done", id: job.id });
    } catch (e) {
      const aborted = ctl.signal.aborted;
      send({ type: "fail", id: job.id, stage: aborted ? "aborted" : "fetch", message: String(e && e.message || e) });
    } finally {
      jobs.delete(job.id);
    }
  }

  function onFrame(frame) {
    switch (frame.type) {
      case "welcome":
        backoffMs = 1000;
        showState(true);
        send({ type: "state", challenge: !!document.querySelector("#challenge-form, #cf-challenge-running"), recaptcha: !!(window.grecaptcha && window.grecaptcha.enterprise) });
        break;
      case "fetch":
        runFetch(frame);
        break;
      case "abort": {
        const ctl = jobs.get(frame.id);
        if (ctl) ctl.abort();
        break;
      }
      case "page":
        send({ type: "page", id: frame.id, href: location.href, html: document.documentElement.outerHTML });
        break;
      case "reload":
        location.reload();
        break;
      case "ping":
        send({ type: "pong", t: frame.t });
        break;
      default:
        break; // unknown types are ignored (forward compatibility)
    }
  }

  function connect() {
    showState(false);
    socket = new WebSocket(LINK_URL);
    socket.onopen = () => send({ type: "hello", token: LINK_TOKEN, tab: tabId(), version: VERSION, href: location.href, ua: navigator.userAgent });
    socket.onmessage = (ev) => {
      let frame;
      try {
        frame = JSON.parse(ev.data);
      } catch (e) {
        return;
      }
      if (frame && typeof frame.type === "string") onFrame(frame);
    };
    socket.onclose = (ev) => {
      showState(false);
      // 4409: a duplicated browser tab took over our tab id; take a new one.
      if (ev.code === 4409) sessionStorage.removeItem(TAB_KEY);
      for (const ctl of jobs.values()) ctl.abort();
      setTimeout(connect, backoffMs);
      backoffMs = Math.min(backoffMs * 2, 30000);
    };
  }

  connect();
})();
