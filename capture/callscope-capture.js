/*
 * Callscope capture: records every HubSpot Calling Extensions SDK message of a calling app, both directions,
 * exactly as it crossed, and sends it to a Callscope collector (`python -m ingest serve`) in capture format v1.
 * Plain JavaScript, no dependencies, no build step.
 *
 *   var extensions = new CallingExtensions({ ... });
 *   var capture = CallscopeCapture.attach(extensions, {
 *     endpoint: "https://callscope.example.com/v1/events", app: "ringo-voice", token: "<the app's token>" });
 *
 * How it hooks in (SDK 0.9.x, src/IFrameManager.ts):
 * - Outbound: the SDK posts `this.destinationWindow.postMessage(newMessage, this.destinationHost)`, where
 *   newMessage already carries its messageId. `window.parent` is cross-origin, so its postMessage cannot be
 *   replaced; the manager's `destinationWindow` is swapped for a wrapper that calls the real one, then records.
 * - Inbound: the SDK listens with `window.addEventListener("message", iFrameManager.messageHandler)`. Listeners on
 *   window run in the order they were added (Chromium: capture flag or not), so a listener added now would see
 *   a SYNC only after the SDK had answered it. The SDK's listener is replaced by a wrapper that records the
 *   message, then calls it (`remove()` unregisters `messageHandler`, so it unregisters the wrapper). It keeps
 *   messages from `window.parent` whose `type` is a string. (Without `messageHandler`, older SDKs: a listener.)
 * - `instance` is the SDK's `iFrameManager.instanceId` (the messageId prefix); `tab` is kept in sessionStorage,
 *   which a browser keeps per tab (and origin), so an iframe re-mounted in the same tab keeps its tab id. A
 *   browser that blocks third-party cookies also denies a cross-site iframe its storage: then each page load
 *   gets its own tab id (`capture.tabFromStorage` is false) and the PAGEHIDE marker alone shows a drop.
 *
 * It never breaks or slows the app: every hook runs inside try/catch, sending is asynchronous (fetch with
 * keepalive), the buffer is bounded (oldest records dropped and counted in `capture.stats.dropped`), failed
 * batches are retried with exponential backoff. On `visibilitychange` to hidden it sends what it holds; on
 * `pagehide` it records the PAGEHIDE marker and hands everything to `navigator.sendBeacon`, so the last
 * messages before a navigation (those of a dropped call) still arrive.
 */
(function (root, factory) {
  if (typeof module === "object" && module && module.exports) {
    module.exports = factory();
  } else {
    root.CallscopeCapture = factory();
  }
}(typeof self !== "undefined" ? self : this, function () {
  "use strict";

  var DEFAULTS = {
    batchSize: 50, // records per request
    flushIntervalMs: 1000, // longest a record waits while the page lives
    maxBufferRecords: 5000, // past this the oldest records are dropped (stats.dropped)
    maxBatchBytes: 48 * 1024, // keepalive fetches and beacons share a 64 KiB in-flight budget
    retryBaseMs: 1000,
    maxBackoffMs: 60000,
    requestTimeoutMs: 10000,
    redact: null, // {key: "..."}: hash phone numbers, names and emails before they leave the browser
    sdkVersion: null // else learnt from the SDK's SYNC_ACK
  };
  var TAB_KEY = "callscope.tab";
  // Lines the collector refuses for good (bad records, too big, not JSON): retrying cannot help.
  var FINAL_STATUSES = { 400: true, 403: true, 413: true, 415: true, 422: true };
  // Payload keys holding personal data (the same sets as ingest/redact.py).
  var PHONE_KEYS = { fromNumber: 1, toNumber: 1, phoneNumber: 1, phone_number: 1, hs_call_from_number: 1, hs_call_to_number: 1 };
  var NAME_KEYS = { firstName: 1, lastName: 1, name: 1 };
  var EMAIL_KEYS = { email: 1 };
  var EMAIL_RE = /[\w.+-]+@[\w-]+(?:\.[\w-]+)+/g;
  var PHONE_RE = /\+\d(?:[\s().-]{0,2}\d){6,}/g;

  function randomHex(bytes) {
    var out = "";
    var values = new Uint8Array(bytes);
    try {
      (self.crypto || self.msCrypto).getRandomValues(values);
    } catch (e) {
      for (var j = 0; j < bytes; j++) { values[j] = Math.floor(Math.random() * 256); }
    }
    for (var i = 0; i < bytes; i++) { out += (values[i] < 16 ? "0" : "") + values[i].toString(16); }
    return out;
  }

  /** [id, whether it came from (or went into) sessionStorage] */
  function tabId() {
    try {
      var id = self.sessionStorage.getItem(TAB_KEY);
      if (!id) {
        id = "tab-" + randomHex(8);
        self.sessionStorage.setItem(TAB_KEY, id);
      }
      return [id, true];
    } catch (e) { // storage denied (third-party iframe, cookies blocked): an id for this page load only
      return ["tab-" + randomHex(8), false];
    }
  }

  function utf8Bytes(text) {
    var n = 0;
    for (var i = 0; i < text.length; i++) {
      var c = text.charCodeAt(i);
      if (c < 0x80) { n += 1; } else if (c < 0x800) { n += 2; } else if (c >= 0xd800 && c <= 0xdbff) { n += 4; i++; } else { n += 3; }
    }
    return n;
  }

  // --- SHA-256 and HMAC, synchronous (SubtleCrypto is asynchronous and needs a secure context) ---
  var K = [];
  (function () {
    var n = 2;
    while (K.length < 64) {
      var prime = true;
      for (var d = 2; d * d <= n; d++) { if (n % d === 0) { prime = false; break; } }
      if (prime) { K.push((Math.pow(n, 1 / 3) % 1) * 4294967296 | 0); }
      n++;
    }
  }());

  function utf8(text) {
    var out = [];
    for (var i = 0; i < text.length; i++) {
      var c = text.charCodeAt(i);
      if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) { c = 0x10000 + ((c - 0xd800) << 10) + (text.charCodeAt(++i) - 0xdc00); }
      if (c < 0x80) { out.push(c); } else if (c < 0x800) { out.push(0xc0 | c >> 6, 0x80 | c & 63); } else if (c < 0x10000) {
        out.push(0xe0 | c >> 12, 0x80 | c >> 6 & 63, 0x80 | c & 63);
      } else { out.push(0xf0 | c >> 18, 0x80 | c >> 12 & 63, 0x80 | c >> 6 & 63, 0x80 | c & 63); }
    }
    return out;
  }

  function sha256(bytes) {
    var h = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];
    var msg = bytes.slice();
    var bitLength = bytes.length * 8;
    msg.push(0x80);
    while (msg.length % 64 !== 56) { msg.push(0); }
    for (var s = 56; s >= 0; s -= 8) { msg.push(s >= 32 ? Math.floor(bitLength / Math.pow(2, s)) & 255 : bitLength >>> s & 255); }
    var w = new Array(64);
    for (var off = 0; off < msg.length; off += 64) {
      for (var t = 0; t < 16; t++) { w[t] = msg[off + 4 * t] << 24 | msg[off + 4 * t + 1] << 16 | msg[off + 4 * t + 2] << 8 | msg[off + 4 * t + 3]; }
      for (t = 16; t < 64; t++) {
        var a0 = w[t - 15], a1 = w[t - 2];
        var s0 = (a0 >>> 7 | a0 << 25) ^ (a0 >>> 18 | a0 << 14) ^ a0 >>> 3;
        var s1 = (a1 >>> 17 | a1 << 15) ^ (a1 >>> 19 | a1 << 13) ^ a1 >>> 10;
        w[t] = w[t - 16] + s0 + w[t - 7] + s1 | 0;
      }
      var a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7];
      for (t = 0; t < 64; t++) {
        var t1 = hh + ((e >>> 6 | e << 26) ^ (e >>> 11 | e << 21) ^ (e >>> 25 | e << 7)) + (e & f ^ ~e & g) + K[t] + w[t] | 0;
        var t2 = ((a >>> 2 | a << 30) ^ (a >>> 13 | a << 19) ^ (a >>> 22 | a << 10)) + (a & b ^ a & c ^ b & c) | 0;
        hh = g; g = f; f = e; e = d + t1 | 0; d = c; c = b; b = a; a = t1 + t2 | 0;
      }
      h = [h[0] + a | 0, h[1] + b | 0, h[2] + c | 0, h[3] + d | 0, h[4] + e | 0, h[5] + f | 0, h[6] + g | 0, h[7] + hh | 0];
    }
    var out = [];
    for (var k = 0; k < 8; k++) { out.push(h[k] >>> 24 & 255, h[k] >>> 16 & 255, h[k] >>> 8 & 255, h[k] & 255); }
    return out;
  }

  function hmacHex(keyBytes, text) {
    var key = keyBytes.length > 64 ? sha256(keyBytes) : keyBytes.slice();
    while (key.length < 64) { key.push(0); }
    var inner = key.map(function (x) { return x ^ 0x36; }).concat(utf8(text));
    var outer = key.map(function (x) { return x ^ 0x5c; }).concat(sha256(inner));
    return sha256(outer).map(function (x) { return (x < 16 ? "0" : "") + x.toString(16); }).join("");
  }

  /** Keyed hashes in the format of ingest/redact.py: the same key gives the same tokens as `load --redact`. */
  function Redactor(key) {
    this._key = utf8(String(key));
  }
  Redactor.prototype.token = function (value) {
    return "~" + hmacHex(this._key, value.trim().toLowerCase()).slice(0, 10);
  };
  Redactor.prototype.phone = function (value) {
    var digits = value.replace(/\D/g, "");
    return this.token(digits) + "-" + digits.slice(-4);
  };
  Redactor.prototype.value = function (key, value) {
    if (typeof value !== "string" || !value || value.charAt(0) === "~") { return value; }
    if (PHONE_KEYS[key] === 1) { return this.phone(value); }
    if (NAME_KEYS[key] === 1 || EMAIL_KEYS[key] === 1) { return this.token(value); }
    if (value.indexOf("@") >= 0 || value.indexOf("+") >= 0) {
      var self_ = this;
      return value.replace(EMAIL_RE, function (m) { return self_.token(m); })
        .replace(PHONE_RE, function (m) { return self_.phone(m); });
    }
    return value;
  };
  Redactor.prototype.walk = function (obj) {
    var self_ = this;
    if (Array.isArray(obj)) {
      return obj.map(function (v) { return v && typeof v === "object" ? self_.walk(v) : self_.value("", v); });
    }
    var out = {};
    Object.keys(obj).forEach(function (k) {
      var v = obj[k];
      out[k] = v && typeof v === "object" ? self_.walk(v) : self_.value(k, v);
    });
    return out;
  };

  // --- the capture ---
  function Capture(extensions, options) {
    var opts = {};
    var name;
    for (name in DEFAULTS) { opts[name] = DEFAULTS[name]; }
    for (name in options || {}) { opts[name] = options[name]; }
    this.options = opts;
    this.stats = { captured: 0, sent: 0, dropped: 0, rejected: 0, failures: 0, errors: 0 };
    this._buffer = []; // {line, bytes, sending}
    this._inflight = false;
    this._timer = null;
    this._backoffMs = 0;
    this._retryAt = 0;
    this._detached = false;
    this._url = opts.endpoint + (opts.endpoint.indexOf("?") < 0 ? "?" : "&") + "token=" + encodeURIComponent(opts.token || "");
    this._redactor = opts.redact && opts.redact.key ? new Redactor(opts.redact.key) : null;
    this._sdkVersion = opts.sdkVersion || undefined;
    var tab = tabId();
    this.tab = tab[0];
    this.tabFromStorage = tab[1];
    this._manager = extensions && extensions.iFrameManager;
    this.instance = this._manager ? String(this._manager.instanceId) : undefined;
    this._hook();
  }

  Capture.prototype._hook = function () {
    var capture = this;
    var manager = this._manager;
    if (!manager || manager.isIFrameHost || self.parent === self) {
      return; // not a calling app inside HubSpot's iframe: nothing to capture
    }
    var real = manager.destinationWindow;
    if (real) {
      this._realDestination = real;
      manager.destinationWindow = {
        postMessage: function () {
          var result = real.postMessage.apply(real, arguments); // the SDK's own call; its errors stay its own
          if (!capture._detached) { capture._record("to_hubspot", arguments[0]); }
          return result;
        }
      };
    }
    this._onMessage = function (event) {
      try {
        if (capture._detached || event.source !== self.parent) { return; }
        var data = event.data;
        if (data && typeof data === "object" && typeof data.type === "string") { capture._record("from_hubspot", data); }
      } catch (e) { capture.stats.errors++; }
    };
    var sdkListener = manager.messageHandler;
    if (typeof sdkListener === "function") {
      this._sdkListener = sdkListener;
      this._listener = function (event) {
        capture._onMessage(event);
        return sdkListener.apply(this, arguments); // the SDK's own handling; its errors stay its own
      };
      self.removeEventListener("message", sdkListener);
      manager.messageHandler = this._listener;
    } else {
      this._listener = this._onMessage;
    }
    this._onVisibility = function () {
      try {
        if (self.document.visibilityState === "hidden") { capture._sendAll(false); }
      } catch (e) { capture.stats.errors++; }
    };
    this._onPageHide = function () {
      try {
        capture._record("capture", { type: "PAGEHIDE" });
        capture._sendAll(true);
      } catch (e) { capture.stats.errors++; }
    };
    self.addEventListener("message", this._listener);
    self.document.addEventListener("visibilitychange", this._onVisibility);
    self.addEventListener("pagehide", this._onPageHide);
  };

  Capture.prototype._record = function (direction, message) {
    try {
      if (direction === "to_hubspot" && message && message.type === "SYNC_ACK" && !this.options.sdkVersion) {
        this._sdkVersion = message.version === undefined ? this._sdkVersion : String(message.version);
      }
      var copy = JSON.parse(JSON.stringify(message)); // the message as it was at this instant
      var record = {
        ts: Date.now(), direction: direction, instance: this.instance, tab: this.tab, app: this.options.app,
        sdk_version: this._sdkVersion, url: (self.document && self.document.referrer) || undefined,
        event_id: randomHex(16), message: this._redactor ? this._redactor.walk(copy) : copy
      };
      var line = JSON.stringify(record);
      this.stats.captured++;
      this._buffer.push({ line: line, bytes: utf8Bytes(line) + 1, sending: false });
      while (this._buffer.length > this.options.maxBufferRecords) {
        this._buffer.shift();
        this.stats.dropped++;
      }
      this._schedule(this._buffer.length >= this.options.batchSize ? 0 : this.options.flushIntervalMs);
    } catch (e) {
      this.stats.errors++;
    }
  };

  Capture.prototype._schedule = function (delayMs) {
    var capture = this;
    if (this._timer !== null || this._detached) { return; }
    var wait = Math.max(delayMs, this._retryAt - Date.now(), 0);
    this._timer = setTimeout(function () {
      capture._timer = null;
      capture.flush();
    }, wait);
  };

  /** Entries not being sent, from the oldest, up to one batch. */
  Capture.prototype._take = function (limitRecords) {
    var batch = [];
    var bytes = 0;
    for (var i = 0; i < this._buffer.length && batch.length < limitRecords; i++) {
      var entry = this._buffer[i];
      if (entry.sending) { continue; }
      if (batch.length && bytes + entry.bytes > this.options.maxBatchBytes) { break; }
      batch.push(entry);
      bytes += entry.bytes;
    }
    return batch;
  };

  Capture.prototype._forget = function (batch) {
    var gone = batch.slice();
    this._buffer = this._buffer.filter(function (entry) { return gone.indexOf(entry) < 0; });
  };

  Capture.prototype._body = function (batch) {
    return batch.map(function (entry) { return entry.line; }).join("\n") + "\n";
  };

  /** Send the oldest batch now (one such request in flight at a time); more follow until the buffer is empty. */
  Capture.prototype.flush = function () {
    var capture = this;
    try {
      if (this._inflight || this._detached || !this._buffer.length) { return; }
      if (Date.now() < this._retryAt) { this._schedule(0); return; }
      var batch = this._take(this.options.batchSize);
      if (!batch.length) { return; }
      this._inflight = true;
      this._post(batch, function () { capture._inflight = false; });
    } catch (e) {
      this._inflight = false;
      this.stats.errors++;
    }
  };

  /** POST one batch with fetch, then back off or carry on; never throws. */
  Capture.prototype._post = function (batch, done) {
    var capture = this;
    var body = this._body(batch);
    var bytes = utf8Bytes(body);
    var finished = false;
    batch.forEach(function (entry) { entry.sending = true; });
    function finish(outcome) { // "sent" | "refused" (dropped for good) | "retry"
      if (finished) { return; }
      finished = true;
      batch.forEach(function (entry) { entry.sending = false; });
      if (outcome === "retry") {
        capture.stats.failures++;
        capture._backoffMs = Math.min(capture.options.maxBackoffMs, capture._backoffMs ? capture._backoffMs * 2 : capture.options.retryBaseMs);
        capture._retryAt = Date.now() + capture._backoffMs * (0.8 + 0.4 * Math.random());
      } else {
        capture.stats[outcome === "sent" ? "sent" : "rejected"] += batch.length;
        capture._forget(batch);
        capture._backoffMs = 0;
        capture._retryAt = 0;
      }
      if (done) { done(); }
      if (capture._buffer.some(function (entry) { return !entry.sending; })) { capture._schedule(0); }
    }
    try {
      var controller = typeof AbortController === "function" ? new AbortController() : null;
      var timer = controller ? setTimeout(function () { controller.abort(); }, this.options.requestTimeoutMs) : null;
      fetch(this._url, {
        method: "POST", body: body, headers: { "Content-Type": "text/plain;charset=UTF-8" }, mode: "cors",
        credentials: "omit", cache: "no-store", keepalive: bytes <= this.options.maxBatchBytes,
        signal: controller ? controller.signal : undefined
      }).then(function (response) {
        if (timer) { clearTimeout(timer); }
        finish(response.ok ? "sent" : FINAL_STATUSES[response.status] ? "refused" : "retry");
      }, function () {
        if (timer) { clearTimeout(timer); }
        finish("retry");
      });
    } catch (e) {
      this.stats.errors++;
      finish("retry");
    }
  };

  /** The page is being hidden or unloaded: send everything held now, in requests that outlive the page. */
  Capture.prototype._sendAll = function (unloading) {
    var batch;
    var guard = 0;
    while (guard++ < 1000 && (batch = this._take(Infinity)).length) {
      if (unloading && typeof navigator.sendBeacon === "function") {
        var queued = false;
        try { queued = navigator.sendBeacon(this._url, this._body(batch)); } catch (e) { queued = false; }
        if (!queued) { break; } // the browser's beacon budget is spent; what is left stays for a keepalive try
        this.stats.sent += batch.length; // handed to the browser, which delivers it after the page is gone
        this._forget(batch);
      } else {
        this._post(batch, null);
      }
    }
    if (unloading) {
      batch = this._take(Infinity);
      if (batch.length) { this._post(batch, null); }
    }
  };

  /** Stop capturing: restore the SDK's destination window and remove the listeners; send what is left. */
  Capture.prototype.detach = function () {
    try {
      this._sendAll(false);
      this._detached = true;
      if (this._realDestination && this._manager) { this._manager.destinationWindow = this._realDestination; }
      if (this._listener) { self.removeEventListener("message", this._listener); }
      if (this._sdkListener && this._manager && this._manager.messageHandler === this._listener) {
        this._manager.messageHandler = this._sdkListener;
        self.addEventListener("message", this._sdkListener);
      }
      self.removeEventListener("pagehide", this._onPageHide);
      self.document.removeEventListener("visibilitychange", this._onVisibility);
    } catch (e) {
      this.stats.errors++;
    }
  };

  /** Records held and not yet acknowledged. */
  Capture.prototype.pending = function () {
    return this._buffer.length;
  };

  return {
    /** Attach to a CallingExtensions instance; returns the capture (stats, flush(), pending(), detach()). */
    attach: function (extensions, options) {
      try {
        return new Capture(extensions, options);
      } catch (e) {
        if (self.console) { self.console.warn("[callscope-capture] not attached:", e); }
        return null;
      }
    },
    Redactor: Redactor,
    FORMAT: "capture format v1"
  };
}));
