/*
 * dashboard.js - the nacre-service dashboard (docs/service-api.md).
 *
 * Reads GET /v1/summary, /v1/devices, /v1/deployments, /v1/failures and
 * /v1/alerts with the operator token from the URL fragment (#token=nst_...)
 * and redraws every 5 s. The token is only ever sent as an Authorization
 * header to this page's own origin; the fragment itself never leaves the
 * browser.
 *
 * SECURITY: labels, details, app names and most other strings come from
 * devices and operators and are untrusted. Every value reaches the page
 * through textContent or a DOM property, never innerHTML, and class names
 * are only built from fixed lists.
 */
(function () {
  'use strict';

  var REFRESH_MS = 5000;
  var ENDPOINTS = ['summary', 'devices', 'deployments', 'failures', 'alerts'];
  var DEVICE_STATES = ['claimed', 'attested', 'attestation_failed', 'quarantined'];
  var DEPLOYMENT_STATES = ['rolling', 'halted', 'done', 'cancelled'];
  var UPDATE_STATUSES = ['offered', 'installed', 'confirmed', 'refused', 'reverted', 'failed'];

  var token = null;
  var timer = null;
  var generation = 0; /* a token change makes answers to older requests stale */

  /* ---- small DOM helpers ---------------------------------------------------- */

  function $(id) {
    return document.getElementById(id);
  }

  /* el('td', {cls: 'x', text: 'y', title: 'z', data: {k: v}}, [children]) */
  function el(tag, opts, children) {
    var node = document.createElement(tag);
    opts = opts || {};
    if (opts.cls) {
      node.className = opts.cls;
    }
    if (opts.text !== undefined && opts.text !== null) {
      node.textContent = String(opts.text);
    }
    if (opts.title) {
      node.title = String(opts.title);
    }
    if (opts.data) {
      Object.keys(opts.data).forEach(function (k) {
        var v = opts.data[k];
        if (v !== undefined && v !== null) {
          node.dataset[k] = String(v);
        }
      });
    }
    (children || []).forEach(function (c) {
      if (c !== null && c !== undefined) {
        node.appendChild(typeof c === 'string' ? document.createTextNode(c) : c);
      }
    });
    return node;
  }

  function setText(id, value) {
    $(id).textContent = String(value);
  }

  function isNum(v) {
    return typeof v === 'number' && isFinite(v);
  }

  function num(v) {
    return isNum(v) ? v : 0;
  }

  function str(v) {
    return typeof v === 'string' ? v : '';
  }

  function oneOf(v, list, fallback) {
    return list.indexOf(v) >= 0 ? v : fallback;
  }

  function human(name) {
    return str(name).replace(/_/g, ' ');
  }

  function shortId(id) {
    id = str(id);
    return id.length > 14 ? id.slice(0, 8) + '\u2026' + id.slice(-4) : id;
  }

  function deviceCell(id) {
    return el('code', {cls: 'devid', text: shortId(id), title: str(id)});
  }

  /* ---- time ----------------------------------------------------------------- */

  function nowSeconds() {
    return Math.floor(Date.now() / 1000);
  }

  function absTime(t) {
    if (!isNum(t) || t <= 0) {
      return '';
    }
    return new Date(t * 1000).toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC');
  }

  function span(seconds) {
    var s = Math.abs(seconds);
    if (s < 60) {
      return Math.floor(s) + ' s';
    }
    if (s < 3600) {
      return Math.floor(s / 60) + ' min';
    }
    if (s < 86400 * 2) {
      var h = Math.floor(s / 3600);
      var m = Math.floor((s % 3600) / 60);
      return h + ' h' + (h < 10 && m > 0 ? ' ' + m + ' min' : '');
    }
    return Math.floor(s / 86400) + ' d';
  }

  /* "in 23 h", "5 min ago", "just now" */
  function relTime(t, now) {
    if (!isNum(t) || t <= 0) {
      return '\u2014';
    }
    var d = t - now;
    if (Math.abs(d) < 5) {
      return 'just now';
    }
    return d > 0 ? 'in ' + span(d) : span(d) + ' ago';
  }

  function timeCell(t, now) {
    return el('td', {cls: 'time', text: relTime(t, now), title: absTime(t)});
  }

  /* ---- page states ---------------------------------------------------------- */

  function setStatus(kind, text) {
    $('status-dot').className = 'status-dot status-' + kind;
    setText('status-text', text);
  }

  function showOnly(which) {
    $('auth-message').hidden = which !== 'auth';
    $('error-message').hidden = which !== 'error';
    $('content').hidden = which !== 'content';
  }

  function showAuth(reason) {
    var title = 'Token required';
    var detail = 'Open this page with an operator token in the URL fragment:';
    if (reason === 'refused') {
      title = 'Token refused';
      detail = 'The service did not accept this token (unknown, revoked or mistyped). ' +
               'Open the page with a valid operator token:';
    } else if (reason === 'forbidden') {
      title = 'Token not allowed here';
      detail = 'This token cannot read a tenant (a service-admin token only manages ' +
               'tenants). Use an admin or read-only token of the tenant:';
    } else if (reason === 'malformed') {
      title = 'Token malformed';
      detail = 'A token is "nst_" followed by 43 base64url characters. Open the page with:';
    }
    document.body.dataset.state = reason === 'missing' ? 'no-token' : 'token-' + reason;
    $('auth-message').dataset.reason = reason;
    setText('auth-title', title);
    setText('auth-detail', detail);
    showOnly('auth');
    setStatus('off', title);
  }

  function showError(message) {
    document.body.dataset.state = 'error';
    setText('error-detail', message);
    showOnly('error');
    setStatus('bad', 'Service unreachable');
  }

  /* ---- the API -------------------------------------------------------------- */

  function ApiError(status, code, message) {
    this.status = status;
    this.code = code;
    this.message = message;
  }

  function api(path) {
    return fetch(path, {
      method: 'GET',
      headers: {'Authorization': 'Bearer ' + token, 'Accept': 'application/json'},
      cache: 'no-store',
      credentials: 'omit',
      redirect: 'error',
      referrerPolicy: 'no-referrer'
    }).then(function (res) {
      return res.text().then(function (text) {
        var body = null;
        try {
          body = text ? JSON.parse(text) : null;
        } catch (e) {
          body = null;
        }
        if (!res.ok) {
          var err = body && body.error ? body.error : {};
          throw new ApiError(res.status, str(err.code) || 'http_' + res.status,
                             str(err.message) || res.statusText || 'request failed');
        }
        if (body === null || typeof body !== 'object') {
          throw new ApiError(res.status, 'malformed_json', path + ' did not return JSON');
        }
        return body;
      });
    });
  }

  function listOf(body, key) {
    return body && Array.isArray(body[key]) ? body[key] : [];
  }

  /* ---- rendering ------------------------------------------------------------ */

  function renderSummary(s) {
    ['devices', 'attested', 'flagged', 'quarantined', 'deployments', 'alerts', 'buckets']
      .forEach(function (k) {
        setText('summary-' + k, isNum(s[k]) ? s[k] : '\u2013');
        var card = document.querySelector('.card[data-metric="' + k + '"]');
        var hot = (k === 'flagged' || k === 'quarantined' || k === 'alerts') && num(s[k]) > 0;
        card.classList.toggle('card-hot', hot);
      });
  }

  function stateBadge(state, list, prefix) {
    var known = oneOf(state, list, 'unknown');
    return el('span', {cls: 'badge ' + prefix + known, text: human(state) || 'unknown',
                       data: {state: str(state)}});
  }

  function certCell(expires, now) {
    if (!isNum(expires) || expires <= 0) {
      return el('td', {cls: 'muted', text: 'none'});
    }
    var left = expires - now;
    var cls = left <= 0 ? 'cert cert-expired' : left < 2 * 3600 ? 'cert cert-soon' : 'cert cert-ok';
    var text = left <= 0 ? 'expired ' + span(left) + ' ago' : 'expires in ' + span(left);
    return el('td', {cls: cls, text: text, title: absTime(expires),
                     data: {expiresAt: expires}});
  }

  function updateCell(u) {
    if (!u || typeof u !== 'object') {
      return el('td', {cls: 'muted', text: '\u2014'});
    }
    var status = oneOf(u.status, UPDATE_STATUSES, 'unknown');
    return el('td', {cls: 'upd'}, [
      el('span', {cls: 'version', text: str(u.version)}),
      ' ',
      el('span', {cls: 'badge upd-' + status, text: human(u.status),
                  title: isNum(u.deployment_id) ? 'deployment #' + u.deployment_id : ''})
    ]);
  }

  function renderDevices(devices, now) {
    var rows = devices.map(function (d) {
      var flags = Array.isArray(d.flags) ? d.flags : [];
      var flagCell = el('td', {cls: 'flags'}, flags.map(function (f) {
        return el('span', {cls: 'badge badge-flag', text: human(f), data: {flag: str(f)}});
      }));
      var quarantine = d.quarantined === true
        ? el('td', {}, [
            el('span', {cls: 'badge badge-quarantine', text: 'quarantined'}),
            d.quarantine_reason ? el('div', {cls: 'reason', text: str(d.quarantine_reason)}) : null
          ])
        : el('td', {cls: 'muted', text: 'no'});
      return el('tr', {data: {deviceId: str(d.device_id), state: str(d.state),
                              quarantined: d.quarantined === true ? 'true' : 'false'},
                       cls: d.quarantined === true ? 'row-quarantined'
                            : flags.length > 0 ? 'row-flagged' : ''}, [
        el('td', {}, [deviceCell(d.device_id)]),
        el('td', {cls: 'label', text: str(d.label)}),
        el('td', {text: str(d.group)}),
        el('td', {}, [stateBadge(d.state, DEVICE_STATES, 'state-')]),
        el('td', {cls: d.version ? 'version' : 'muted', text: d.version ? str(d.version) : '\u2014'}),
        certCell(d.certificate_expires_at, now),
        updateCell(d.update),
        flagCell,
        quarantine,
        timeCell(d.last_seen, now)
      ]);
    });
    $('devices-body').replaceChildren.apply($('devices-body'), rows);
    $('devices-empty').hidden = rows.length > 0;
    setText('devices-count', rows.length + (rows.length === 1 ? ' device' : ' devices'));
  }

  function wavesCell(dep) {
    var waves = Array.isArray(dep.waves) ? dep.waves : [];
    var open = isNum(dep.wave) ? dep.wave : -1;
    var state = str(dep.state);
    return el('td', {cls: 'waves'}, waves.map(function (w, i) {
      var cls = 'wave';
      if (state === 'done' || i < open) {
        cls += ' wave-passed';
      } else if (i === open && (state === 'rolling' || state === 'halted')) {
        cls += ' wave-open' + (state === 'halted' ? ' wave-halted' : '');
      }
      return el('span', {cls: cls, text: num(w) + '%',
                         title: 'wave ' + (i + 1) + (i === open ? ' (open)' : ''),
                         data: {wave: i, open: i === open ? 'true' : 'false'}});
    }));
  }

  function segment(cls, n, total, label) {
    var s = el('span', {cls: 'seg ' + cls, title: n + ' ' + label, data: {segment: label}});
    s.style.width = (total > 0 ? (100 * n) / total : 0).toFixed(3) + '%'; /* CSSOM: CSP-safe */
    return s;
  }

  function progressCell(dep) {
    var c = dep.devices && typeof dep.devices === 'object' ? dep.devices : {};
    var total = num(c.total);
    var offered = num(c.offered);
    var confirmed = num(c.confirmed);
    var failed = num(c.failed);
    var crashed = num(c.crashed);
    var pending = Math.max(0, offered - confirmed - failed - crashed);
    var waiting = Math.max(0, total - offered);
    var sum = confirmed + failed + crashed + pending + waiting;
    var bar = el('div', {cls: 'bar', data: {total: total, offered: offered, confirmed: confirmed,
                                             failed: failed, crashed: crashed}}, [
      segment('seg-confirmed', confirmed, sum, 'confirmed'),
      segment('seg-pending', pending, sum, 'pending'),
      segment('seg-failed', failed, sum, 'failed'),
      segment('seg-crashed', crashed, sum, 'crashed'),
      segment('seg-waiting', waiting, sum, 'not offered')
    ]);
    bar.setAttribute('role', 'img');
    bar.setAttribute('aria-label', 'offered ' + offered + ' of ' + total + ', confirmed ' +
                     confirmed + ', failed ' + failed + ', crashed ' + crashed);
    var figures = el('div', {cls: 'bar-figures'}, [
      el('span', {text: 'offered ' + offered + '/' + total}),
      el('span', {cls: 'fig-confirmed', text: 'confirmed ' + confirmed}),
      el('span', {cls: failed > 0 ? 'fig-failed' : '', text: 'failed ' + failed}),
      el('span', {cls: crashed > 0 ? 'fig-crashed' : '', text: 'crashed ' + crashed})
    ]);
    return el('td', {cls: 'col-progress'}, [bar, figures]);
  }

  function renderDeployments(deps, now) {
    var sorted = deps.slice().sort(function (a, b) { return num(b.id) - num(a.id); });
    var rows = sorted.map(function (dep) {
      var state = el('td', {}, [stateBadge(dep.state, DEPLOYMENT_STATES, 'dep-'),
        dep.halt_reason ? el('div', {cls: 'reason halt-reason', text: str(dep.halt_reason)}) : null]);
      var rate = isNum(dep.max_failure_rate) ? Math.round(dep.max_failure_rate * 1000) / 10 + '%' : '\u2014';
      return el('tr', {data: {deploymentId: num(dep.id), state: str(dep.state)},
                       cls: dep.state === 'cancelled' ? 'row-dim' : ''}, [
        el('td', {cls: 'num', text: '#' + num(dep.id)}),
        el('td', {text: str(dep.group)}),
        el('td', {cls: 'version', text: str(dep.version), title: 'image ' + str(dep.image_id)}),
        wavesCell(dep),
        state,
        progressCell(dep),
        el('td', {cls: 'num', text: rate}),
        timeCell(dep.created_at, now)
      ]);
    });
    $('deployments-body').replaceChildren.apply($('deployments-body'), rows);
    $('deployments-empty').hidden = rows.length > 0;
    setText('deployments-count', rows.length + (rows.length === 1 ? ' deployment' : ' deployments'));
  }

  function renderFailures(buckets, now) {
    var sorted = buckets.slice().sort(function (a, b) { return num(b.count) - num(a.count); });
    var rows = sorted.map(function (b) {
      return el('tr', {data: {bucket: str(b.bucket)}}, [
        el('td', {}, [el('code', {text: str(b.app), title: 'bucket ' + str(b.bucket)})]),
        el('td', {text: isNum(b.signal) ? String(b.signal) : str(b.signal)}),
        el('td', {cls: 'version', text: b.version ? str(b.version) : '\u2014'}),
        el('td', {cls: 'num', text: num(b.count)}),
        el('td', {cls: 'num', text: num(b.devices)}),
        timeCell(b.last_seen, now)
      ]);
    });
    $('failures-body').replaceChildren.apply($('failures-body'), rows);
    $('failures-empty').hidden = rows.length > 0;
    setText('failures-count', rows.length + (rows.length === 1 ? ' bucket' : ' buckets'));
  }

  function renderAlerts(alerts, now) {
    var sorted = alerts.slice().sort(function (a, b) {
      return num(b.time) - num(a.time) || num(b.id) - num(a.id);
    });
    var rows = sorted.map(function (a) {
      return el('tr', {data: {alertId: num(a.id), rule: str(a.rule), alertDevice: str(a.device_id)}}, [
        timeCell(a.time, now),
        el('td', {}, [deviceCell(a.device_id)]),
        el('td', {}, [el('span', {cls: 'badge badge-flag', text: human(a.rule)})]),
        el('td', {cls: 'detail', text: str(a.detail)})
      ]);
    });
    $('alerts-body').replaceChildren.apply($('alerts-body'), rows);
    $('alerts-empty').hidden = rows.length > 0;
    setText('alerts-count', rows.length + (rows.length === 1 ? ' alert' : ' alerts'));
  }

  /* ---- the refresh loop ----------------------------------------------------- */

  function schedule() {
    clearTimeout(timer);
    timer = setTimeout(refresh, REFRESH_MS);
  }

  function refresh() {
    clearTimeout(timer);
    timer = null;
    if (token === null) {
      showAuth('missing');
      return;
    }
    var mine = ++generation;
    Promise.all(ENDPOINTS.map(function (e) { return api('/v1/' + e); }))
      .then(function (r) {
        if (mine !== generation) {
          return;
        }
        var now = nowSeconds();
        renderSummary(r[0]);
        renderDevices(listOf(r[1], 'devices'), now);
        renderDeployments(listOf(r[2], 'deployments'), now);
        renderFailures(listOf(r[3], 'buckets'), now);
        renderAlerts(listOf(r[4], 'alerts'), now);
        document.body.dataset.state = 'ok';
        showOnly('content');
        setStatus('ok', 'Updated ' + new Date().toLocaleTimeString());
        schedule();
      })
      .catch(function (e) {
        if (mine !== generation) {
          return;
        }
        if (e instanceof ApiError && e.status === 401) {
          showAuth('refused'); /* no retry: a refused token stays refused */
          return;
        }
        if (e instanceof ApiError && e.status === 403) {
          showAuth('forbidden');
          return;
        }
        var msg = e instanceof ApiError ? e.code + ' (HTTP ' + e.status + '): ' + e.message
                                        : 'cannot reach the service (' + String(e && e.message || e) + ')';
        if ($('content').hidden) {
          showError(msg);
        } else {
          /* keep the last good data on screen, say it is stale */
          document.body.dataset.state = 'stale';
          setStatus('bad', 'Refresh failed: ' + msg);
        }
        schedule();
      });
  }

  function readToken() {
    var params = new URLSearchParams(window.location.hash.replace(/^#/, ''));
    var t = params.get('token');
    if (t === null || t === '') {
      return {token: null, reason: 'missing'};
    }
    /* Header values must be printable ASCII; the contract's tokens are base64url. */
    if (!/^[\x21-\x7e]{1,200}$/.test(t)) {
      return {token: null, reason: 'malformed'};
    }
    return {token: t, reason: null};
  }

  function start() {
    var r = readToken();
    token = r.token;
    generation++;
    if (token === null) {
      clearTimeout(timer);
      showAuth(r.reason);
      return;
    }
    setStatus('wait', 'Loading\u2026');
    refresh();
  }

  window.addEventListener('hashchange', start);
  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', start);
  } else {
    start();
  }
})();
