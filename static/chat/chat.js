/* Colony web chat: plain JavaScript over /api/v1/ (REST) and /ws/ (one WebSocket).
 *
 * - Conversation list with unread badges (REST), message list with threads and reactions.
 * - Sending goes over the socket with a client_id: the message shows at once (pending) and is
 *   replaced by the server's copy (matched by client_id) from message.ack / message.created.
 *   Frames written while offline wait and are sent on reconnect (same client_id: never twice).
 * - Every conversation remembers the highest contiguous seq it has; a gap, or a reconnect,
 *   fetches ?after_seq=<that seq> until has_more is false, so nothing is missed or doubled.
 */
(function () {
  "use strict";

  var config = JSON.parse(document.getElementById("chat-config").textContent);
  var API = "/api/v1";
  var PALETTE = ["\u{1F44D}", "\u2764\uFE0F", "\u{1F602}", "\u{1F389}"];
  var PING_MS = 25000;

  var state = {
    conversations: new Map(), // id → conversation payload
    messages: new Map(), // conversation id → Map(seq → message)
    lastSeen: new Map(), // conversation id → highest contiguous seq held
    pending: new Map(), // client_id → {frame, message, failed}
    catchingUp: new Map(), // conversation id → promise
    current: null,
    threadRoot: null,
    socket: null,
    online: navigator.onLine !== false,
    retry: 0,
    reconnectTimer: null,
    pingTimer: null,
    lastTypingSent: 0,
    typing: new Map(), // user id → {handle, until, conversationId}
  };

  var $ = function (id) { return document.getElementById(id); };

  // --- helpers -------------------------------------------------------------------------

  function uuid4() {
    var b = new Uint8Array(16);
    crypto.getRandomValues(b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    var h = Array.prototype.map.call(b, function (x) { return (x + 0x100).toString(16).slice(1); }).join("");
    return h.slice(0, 8) + "-" + h.slice(8, 12) + "-" + h.slice(12, 16) + "-" + h.slice(16, 20) + "-" + h.slice(20);
  }

  function csrfToken() {
    var match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  function api(method, path, body) {
    var options = { method: method, credentials: "same-origin", headers: { Accept: "application/json" } };
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    if (method !== "GET") options.headers["X-CSRFToken"] = csrfToken();
    return fetch(API + path, options).then(function (response) {
      if (response.status === 204) return null;
      return response.json().catch(function () { return {}; }).then(function (data) {
        if (!response.ok) {
          var error = new Error(data.detail || firstError(data) || "Request failed (" + response.status + ")");
          error.status = response.status;
          error.data = data;
          throw error;
        }
        return data;
      });
    });
  }

  function firstError(data) {
    for (var name in data) {
      if (Array.isArray(data[name]) && data[name].length) return data[name][0];
    }
    return "";
  }

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    for (var name in attrs || {}) {
      if (name === "text") node.textContent = attrs[name];
      else if (name === "html") node.innerHTML = attrs[name]; // server-sanitised body_html only
      else if (name.slice(0, 2) === "on") node.addEventListener(name.slice(2), attrs[name]);
      else if (attrs[name] !== null && attrs[name] !== undefined && attrs[name] !== false) node.setAttribute(name, attrs[name]);
    }
    (children || []).forEach(function (child) { if (child) node.appendChild(child); });
    return node;
  }

  function showError(id, text) {
    var node = $(id);
    node.textContent = text || "";
    node.hidden = !text;
  }

  function userName(user) {
    if (!user) return "System";
    return user.display_name || "@" + user.handle;
  }

  function conversationName(c) {
    if (c.title) return c.title;
    if (c.direct_with) return userName(c.direct_with);
    return c.kind === "group" ? "Group" : "Conversation";
  }

  function timeOf(iso) {
    if (!iso) return "";
    var d = new Date(iso);
    return d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  }

  // --- store ------------------------------------------------------------------------------

  function store(conversationId) {
    if (!state.messages.has(conversationId)) state.messages.set(conversationId, new Map());
    return state.messages.get(conversationId);
  }

  function advanceLastSeen(conversationId) {
    var map = store(conversationId);
    var seen = state.lastSeen.get(conversationId) || 0;
    while (map.has(seen + 1)) seen += 1;
    state.lastSeen.set(conversationId, seen);
    return seen;
  }

  function keep(message) {
    var cid = message.conversation_id;
    store(cid).set(message.seq, message);
    if (message.client_id && state.pending.has(message.client_id)) state.pending.delete(message.client_id);
    var c = state.conversations.get(cid);
    if (c && message.seq >= c.last_message_seq) {
      c.last_message_seq = message.seq;
      c.last_message = message;
      c.last_message_at = message.created_at;
    }
  }

  function findMessage(conversationId, messageId) {
    var map = state.messages.get(conversationId);
    if (!map) return null;
    var found = null;
    map.forEach(function (m) { if (m.id === messageId) found = m; });
    return found;
  }

  // --- conversations ------------------------------------------------------------------

  function loadConversations() {
    return api("GET", "/conversations/?page_size=200").then(function (page) {
      var seen = new Set();
      page.results.forEach(function (c) {
        seen.add(c.id);
        state.conversations.set(c.id, c);
      });
      state.conversations.forEach(function (_, id) { if (!seen.has(id)) state.conversations.delete(id); });
      renderList();
      if (state.current && !state.conversations.has(state.current)) closeConversation();
    });
  }

  function renderList() {
    var list = $("chat-list");
    var items = Array.from(state.conversations.values()).sort(function (a, b) {
      return (b.last_message_at || "").localeCompare(a.last_message_at || "");
    });
    list.replaceChildren.apply(list, items.map(function (c) {
      var unread = c.id === state.current && !document.hidden ? 0 : c.unread_count;
      var preview = c.last_message
        ? (c.last_message.deleted_at ? "(deleted)" : userName(c.last_message.sender) + ": " + c.last_message.body)
        : "No messages yet";
      return el("li", {
        "data-id": c.id,
        class: c.id === state.current ? "active" : null,
        onclick: function () { openConversation(c.id); },
      }, [
        el("div", { class: "text" }, [
          el("div", { class: "name", text: conversationName(c) }),
          el("div", { class: "preview", text: preview }),
        ]),
        el("span", { class: "unread-badge", text: String(unread), hidden: unread ? null : "hidden" }),
      ]);
    }));
  }

  function openConversation(id) {
    if (!state.conversations.has(id)) return Promise.resolve();
    state.current = id;
    closeThread();
    if (location.hash !== "#/c/" + id) history.replaceState(null, "", "#/c/" + id);
    var c = state.conversations.get(id);
    $("chat-title").textContent = conversationName(c);
    $("chat-topic").textContent = c.topic || "";
    $("chat-composer").hidden = false;
    renderList();
    var loaded = state.messages.has(id)
      ? catchUp(id)
      : api("GET", "/conversations/" + id + "/messages/?limit=50").then(function (page) {
          page.results.forEach(keep);
          // older history is fetched on demand; what we hold is contiguous up to the newest seq
          var top = page.results.length ? page.results[page.results.length - 1].seq : 0;
          state.lastSeen.set(id, Math.max(top, 0));
          advanceLastSeen(id);
        });
    return loaded.then(function () {
      renderMessages();
      markRead();
      $("chat-input").focus();
    });
  }

  function closeConversation() {
    state.current = null;
    $("chat-title").textContent = "Chat";
    $("chat-topic").textContent = "";
    $("chat-composer").hidden = true;
    $("chat-messages").replaceChildren(el("p", { class: "muted chat-empty", text: "Pick a conversation." }));
    closeThread();
  }

  function catchUp(conversationId) {
    if (state.catchingUp.has(conversationId)) return state.catchingUp.get(conversationId);
    var run = function () {
      var after = state.lastSeen.get(conversationId) || 0;
      return api("GET", "/conversations/" + conversationId + "/messages/?limit=200&after_seq=" + after).then(function (page) {
        page.results.forEach(keep);
        advanceLastSeen(conversationId);
        if (page.has_more && page.results.length) return run();
        return null;
      });
    };
    var promise = run().finally(function () { state.catchingUp.delete(conversationId); });
    state.catchingUp.set(conversationId, promise);
    return promise.then(function () {
      if (conversationId === state.current) {
        renderMessages();
        markRead();
      }
      if (state.threadRoot) renderThread();
    });
  }

  function markRead() {
    var c = state.current && state.conversations.get(state.current);
    if (!c || document.hidden) return;
    var seq = state.lastSeen.get(c.id) || 0;
    if (seq <= (c.last_read_seq || 0) && !c.unread_count) return;
    c.last_read_seq = Math.max(c.last_read_seq || 0, seq);
    c.unread_count = Math.max(0, c.last_message_seq - c.last_read_seq);
    renderList();
    if (!sendFrame({ type: "read", conversation_id: c.id, seq: seq })) {
      api("POST", "/conversations/" + c.id + "/read/", { seq: seq }).catch(function () {});
    }
  }

  // --- messages ---------------------------------------------------------------------------

  function messageNode(m, inThread) {
    var mine = m.sender && m.sender.id === config.userId;
    var classes = ["msg"];
    if (m.pending) classes.push("pending");
    if (m.failed) classes.push("failed");
    if (m.deleted_at) classes.push("deleted");
    if (mine) classes.push("mine");
    var tools = [];
    if (!m.pending && !m.deleted_at) {
      (m.reactions || []).forEach(function (r) {
        var reacted = r.user_ids.indexOf(config.userId) !== -1;
        tools.push(el("button", {
          type: "button",
          class: "reaction" + (reacted ? " mine" : ""),
          "data-emoji": r.emoji,
          title: reacted ? "Remove your reaction" : "React",
          text: r.emoji + " " + r.count,
          onclick: function () { toggleReaction(m, r.emoji, reacted); },
        }));
      });
      PALETTE.forEach(function (emoji) {
        if ((m.reactions || []).some(function (r) { return r.emoji === emoji; })) return;
        tools.push(el("button", {
          type: "button",
          class: "react-add",
          "data-emoji": emoji,
          title: "React with " + emoji,
          text: emoji,
          onclick: function () { toggleReaction(m, emoji, false); },
        }));
      });
      if (!inThread) {
        tools.push(el("button", {
          type: "button",
          class: "thread-link",
          text: m.reply_count ? m.reply_count + (m.reply_count === 1 ? " reply" : " replies") : "Reply",
          onclick: function () { openThread(m.id); },
        }));
      }
    }
    var body = m.deleted_at
      ? el("div", { class: "body", text: "This message was deleted." })
      : m.pending
        ? el("div", { class: "body", text: m.body })
        : el("div", { class: "body", html: m.body_html });
    return el("div", {
      class: classes.join(" "),
      id: m.id ? "msg-" + m.id : null,
      "data-seq": m.seq || null,
      "data-client-id": m.client_id || null,
    }, [
      el("div", { class: "meta" }, [
        el("span", { class: "author", text: userName(m.sender) }),
        el("time", { text: m.pending ? (m.failed ? "not sent" : "sending…") : timeOf(m.created_at) }),
        m.edited_at && !m.deleted_at ? el("span", { text: "(edited)" }) : null,
      ]),
      body,
      tools.length ? el("div", { class: "tools" }, tools) : null,
    ]);
  }

  function pendingFor(conversationId, threadRoot) {
    var out = [];
    state.pending.forEach(function (p) {
      if (p.message.conversation_id === conversationId && (p.message.thread_root_id || null) === (threadRoot || null)) {
        out.push(p.message);
      }
    });
    return out;
  }

  function renderInto(container, messages) {
    var nearBottom = container.scrollHeight - container.scrollTop - container.clientHeight < 80;
    container.replaceChildren.apply(container, messages);
    if (nearBottom || container.dataset.stick !== "no") container.scrollTop = container.scrollHeight;
  }

  function renderMessages() {
    var cid = state.current;
    if (!cid) return;
    var rows = Array.from(store(cid).values())
      .filter(function (m) { return !m.thread_root_id; })
      .sort(function (a, b) { return a.seq - b.seq; })
      .map(function (m) { return messageNode(m, false); });
    pendingFor(cid, null).forEach(function (m) { rows.push(messageNode(m, false)); });
    if (!rows.length) rows.push(el("p", { class: "muted chat-empty", text: "No messages yet. Say hello." }));
    renderInto($("chat-messages"), rows);
  }

  function toggleReaction(message, emoji, reacted) {
    var path = "/messages/" + message.id + "/reactions/";
    var request = reacted
      ? api("DELETE", path + encodeURIComponent(emoji) + "/")
      : api("POST", path, { emoji: emoji });
    request.catch(function (error) { showError("chat-error", error.message); });
  }

  function applyReaction(event, added) {
    var m = findMessage(event.conversation_id, event.message_id);
    if (!m) return;
    var reactions = m.reactions || (m.reactions = []);
    var entry = reactions.find(function (r) { return r.emoji === event.emoji; });
    if (!entry) {
      if (!added) return;
      entry = { emoji: event.emoji, count: 0, user_ids: [] };
      reactions.push(entry);
    }
    var at = entry.user_ids.indexOf(event.user_id);
    if (added && at === -1) entry.user_ids.push(event.user_id);
    if (!added && at !== -1) entry.user_ids.splice(at, 1);
    entry.count = event.count;
    if (!entry.count) reactions.splice(reactions.indexOf(entry), 1);
    rerender(event.conversation_id);
  }

  function rerender(conversationId) {
    if (conversationId === state.current) renderMessages();
    if (state.threadRoot) renderThread();
  }

  // --- sending -----------------------------------------------------------------------------

  function sendMessage(body, threadRoot) {
    var cid = state.current;
    if (!cid || !body.trim()) return;
    if (body.length > config.maxChars) {
      showError("chat-error", "A message is at most " + config.maxChars + " characters.");
      return;
    }
    showError("chat-error", "");
    var clientId = uuid4();
    var frame = { type: "message.send", conversation_id: cid, body: body, client_id: clientId };
    if (threadRoot) frame.reply_to = threadRoot;
    var message = {
      pending: true,
      client_id: clientId,
      conversation_id: cid,
      thread_root_id: threadRoot || null,
      body: body,
      sender: { id: config.userId, handle: config.handle, display_name: config.displayName },
    };
    state.pending.set(clientId, { frame: frame, message: message });
    rerender(cid);
    sendFrame(frame); // offline: stays pending and goes out on reconnect
  }

  function resendPending() {
    state.pending.forEach(function (p) { if (!p.message.failed) sendFrame(p.frame); });
  }

  function sendFrame(frame) {
    var socket = state.socket;
    if (!socket || socket.readyState !== WebSocket.OPEN) return false;
    socket.send(JSON.stringify(frame));
    return true;
  }

  function onComposerInput() {
    var now = Date.now();
    if (state.current && now - state.lastTypingSent > config.typingInterval * 1000) {
      if (sendFrame({ type: "typing", conversation_id: state.current })) state.lastTypingSent = now;
    }
  }

  // --- threads -------------------------------------------------------------------------------

  function openThread(rootId) {
    state.threadRoot = rootId;
    $("chat-thread").hidden = false;
    $("chat").classList.add("with-thread");
    return api("GET", "/messages/" + rootId + "/thread/?limit=200").then(function (page) {
      page.results.forEach(keep);
      renderThread();
      $("chat-thread-input").focus();
    });
  }

  function closeThread() {
    state.threadRoot = null;
    $("chat-thread").hidden = true;
    $("chat").classList.remove("with-thread");
  }

  function renderThread() {
    var root = state.threadRoot;
    if (!root || !state.current) return;
    var rows = Array.from(store(state.current).values())
      .filter(function (m) { return m.id === root || m.thread_root_id === root; })
      .sort(function (a, b) { return a.seq - b.seq; })
      .map(function (m) { return messageNode(m, true); });
    pendingFor(state.current, root).forEach(function (m) { rows.push(messageNode(m, true)); });
    renderInto($("chat-thread-messages"), rows);
  }

  // --- typing ----------------------------------------------------------------------------------

  function renderTyping() {
    var now = Date.now();
    var names = [];
    state.typing.forEach(function (t, userId) {
      if (t.until <= now) state.typing.delete(userId);
      else if (t.conversationId === state.current) names.push("@" + t.handle);
    });
    $("chat-typing").textContent = names.length ? names.join(", ") + (names.length > 1 ? " are" : " is") + " typing…" : "";
  }

  // --- socket ------------------------------------------------------------------------------------

  function setStatus(value, text) {
    var node = $("chat-status");
    node.dataset.state = value;
    node.textContent = text;
  }

  function connect() {
    clearTimeout(state.reconnectTimer);
    if (!state.online) return;
    if (state.socket && state.socket.readyState <= WebSocket.OPEN) return;
    setStatus("connecting", state.retry ? "reconnecting…" : "connecting…");
    var socket = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws/");
    state.socket = socket;
    socket.onopen = function () {
      state.retry = 0;
      setStatus("online", "online");
      clearInterval(state.pingTimer);
      state.pingTimer = setInterval(function () { sendFrame({ type: "ping", ts: Date.now() }); }, PING_MS);
      // catch up everything that arrived while we were away, then send what waited
      loadConversations().then(function () {
        return Promise.all(Array.from(state.messages.keys()).map(function (cid) {
          return state.conversations.has(cid) ? catchUp(cid) : null;
        }));
      }).then(resendPending, resendPending);
    };
    socket.onmessage = function (event) {
      var frame;
      try { frame = JSON.parse(event.data); } catch (e) { return; }
      handleEvent(frame);
    };
    socket.onclose = function (event) {
      clearInterval(state.pingTimer);
      if (state.socket !== socket) return;
      state.socket = null;
      if (event.code === 4401 || event.code === 4001) {
        setStatus("offline", "signed out");
        return;
      }
      setStatus("offline", state.online ? "reconnecting…" : "offline");
      if (state.online) {
        var delay = Math.min(5000, 300 * Math.pow(2, state.retry));
        state.retry += 1;
        state.reconnectTimer = setTimeout(connect, delay);
      }
    };
  }

  function disconnect() {
    clearTimeout(state.reconnectTimer);
    var socket = state.socket;
    state.socket = null;
    if (socket) socket.close(4000, "offline");
    clearInterval(state.pingTimer);
    setStatus("offline", "offline");
  }

  function handleEvent(frame) {
    switch (frame.type) {
      case "message.created":
      case "message.ack":
        onMessage(frame.message);
        break;
      case "message.updated":
      case "message.deleted":
        if (state.messages.has(frame.message.conversation_id)) {
          var previous = store(frame.message.conversation_id).get(frame.message.seq);
          if (previous) {
            store(frame.message.conversation_id).set(frame.message.seq, frame.message);
            rerender(frame.message.conversation_id);
          }
        }
        break;
      case "thread.updated":
        var root = findMessage(frame.conversation_id, frame.message_id);
        if (root) {
          root.reply_count = frame.reply_count;
          root.last_reply_at = frame.last_reply_at;
          rerender(frame.conversation_id);
        }
        break;
      case "reaction.added":
        applyReaction(frame, true);
        break;
      case "reaction.removed":
        applyReaction(frame, false);
        break;
      case "typing":
        if (frame.user_id !== config.userId) {
          state.typing.set(frame.user_id, {
            handle: frame.handle,
            until: Date.now() + frame.expires_in * 1000,
            conversationId: frame.conversation_id,
          });
          renderTyping();
          setTimeout(renderTyping, frame.expires_in * 1000 + 50);
        }
        break;
      case "read_cursor.updated":
        if (frame.user_id === config.userId) {
          var c = state.conversations.get(frame.conversation_id);
          if (c) {
            c.last_read_seq = frame.last_read_seq;
            c.unread_count = Math.max(0, c.last_message_seq - c.last_read_seq);
            renderList();
          }
        }
        break;
      case "conversation.member_added":
      case "conversation.member_removed":
      case "conversation.updated":
        loadConversations();
        break;
      case "error":
        onError(frame);
        break;
      default:
        break;
    }
  }

  function onMessage(message) {
    var cid = message.conversation_id;
    var c = state.conversations.get(cid);
    if (!c) {
      loadConversations();
      return;
    }
    var fromOther = !message.sender || message.sender.id !== config.userId;
    var known = state.messages.has(cid) && store(cid).has(message.seq);
    if (state.messages.has(cid)) {
      var seen = state.lastSeen.get(cid) || 0;
      if (message.seq > seen + 1) {
        keep(message);
        catchUp(cid); // a gap: fetch what is missing
      } else {
        keep(message);
        advanceLastSeen(cid);
      }
    } else {
      keep(message);
    }
    if (!known && fromOther && !(cid === state.current && !document.hidden)) {
      c.unread_count = Math.max(0, c.last_message_seq - (c.last_read_seq || 0));
    }
    renderList();
    rerender(cid);
    if (cid === state.current && fromOther) markRead();
  }

  function onError(frame) {
    var pending = frame.client_id && state.pending.get(frame.client_id);
    if (pending && (frame.code === "throttled" || frame.code === "rate_limited")) {
      var wait = (frame.retry_after || 1) * 1000;
      showError("chat-error", "Sending too fast; retrying in " + (frame.retry_after || 1) + " s.");
      setTimeout(function () { sendFrame(pending.frame); }, wait);
      return;
    }
    if (pending) {
      pending.message.failed = true;
      rerender(pending.message.conversation_id);
    }
    showError("chat-error", frame.detail || "Something went wrong.");
  }

  // --- wiring ------------------------------------------------------------------------------------

  function submitFrom(inputId, threadRoot) {
    var input = $(inputId);
    var body = input.value;
    if (!body.trim()) return;
    input.value = "";
    sendMessage(body, threadRoot);
  }

  $("chat-composer").addEventListener("submit", function (event) {
    event.preventDefault();
    submitFrom("chat-input", null);
  });
  $("chat-thread-composer").addEventListener("submit", function (event) {
    event.preventDefault();
    submitFrom("chat-thread-input", state.threadRoot);
  });
  ["chat-input", "chat-thread-input"].forEach(function (id) {
    $(id).addEventListener("input", onComposerInput);
    $(id).addEventListener("keydown", function (event) {
      if (event.key === "Enter" && !event.shiftKey) {
        event.preventDefault();
        submitFrom(id, id === "chat-thread-input" ? state.threadRoot : null);
      }
    });
  });
  $("chat-thread-close").addEventListener("click", closeThread);

  $("chat-new").addEventListener("submit", function (event) {
    event.preventDefault();
    var handle = $("chat-new-handle").value.trim().replace(/^@/, "").toLowerCase();
    if (!handle) return;
    showError("chat-new-error", "");
    api("GET", "/users/by-handle/" + encodeURIComponent(handle) + "/")
      .then(function (user) { return api("POST", "/conversations/", { kind: "direct", user_id: user.id }); })
      .then(function (conversation) {
        $("chat-new-handle").value = "";
        state.conversations.set(conversation.id, conversation);
        return openConversation(conversation.id);
      })
      .catch(function (error) {
        showError("chat-new-error", error.status === 404 ? "No such user." : error.message);
      });
  });

  window.addEventListener("offline", function () {
    state.online = false;
    disconnect();
  });
  window.addEventListener("online", function () {
    state.online = true;
    state.retry = 0;
    connect();
  });
  document.addEventListener("visibilitychange", function () {
    if (!document.hidden) markRead();
  });

  loadConversations()
    .then(function () {
      var match = location.hash.match(/^#\/c\/([0-9a-f-]{36})/);
      if (match) return openConversation(match[1]);
      return null;
    })
    .catch(function (error) { showError("chat-error", error.message); })
    .then(connect);

  window.colonyChat = { state: state, connect: connect, disconnect: disconnect, openConversation: openConversation };
})();
