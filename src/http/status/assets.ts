// The status page's style sheet and live-update script, served by bootlab (the lab LAN may have no
// internet): GET /status/assets/status.css and /status/assets/status.js. The page works without the
// script (reload); with it, rows, the config banner and a machine's timeline update from the stream.

export const CSS = `
:root{--bg:#f5f6f8;--card:#fff;--ink:#1c2430;--dim:#6b7685;--line:#e3e7ec;--brand:#0f5f8f;--head:#14202e;
--ok:#1f8a4c;--bad:#c62f2f;--warn:#b7791f;--info:#2b6cb0;--cyan:#0e7c86;--violet:#6b46c1;--indigo:#4c51bf}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--ink);font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,Ubuntu,sans-serif}
a{color:var(--brand);text-decoration:none}a:hover{text-decoration:underline}
code,pre{font-family:ui-monospace,"SF Mono",Menlo,Consolas,monospace;font-size:.88em}
header{display:flex;flex-wrap:wrap;align-items:center;gap:.4rem 1rem;padding:.7rem 1.2rem;background:var(--head);color:#dfe6ee}
header .brand{color:#fff;font-weight:700;font-size:1.15rem;letter-spacing:.02em}
header .meta{color:#a9b6c4;font-size:.9rem}
header .ok{color:#7ee2a8}header .bad{color:#ff9b9b;font-weight:600}
header .live{margin-left:auto;color:#6b7685;font-size:.8rem}header .live.on{color:#48d17f}
header .who a,header .who button{color:#cfe3f5}
main{max-width:1400px;margin:0 auto;padding:1rem 1.2rem 3rem}
h1{font-size:1.35rem;margin:.4rem 0}h2{font-size:1.1rem;margin:1.4rem 0 .6rem}
.titlebar{display:flex;flex-wrap:wrap;align-items:center;justify-content:space-between;gap:.5rem}
.count{color:var(--dim);font-weight:400}
.summary{display:flex;flex-wrap:wrap;gap:.3rem}
.back{color:var(--dim);margin-right:.2rem}
.banner{background:#fdecec;border:1px solid #f1b5b5;border-left:5px solid var(--bad);color:#5c1414;padding:.7rem 1.2rem;margin:0}
.banner ul{margin:.4rem 0 0;padding-left:1.2rem}.banner code{background:#fff6f6;padding:0 .25rem;border-radius:3px}
.notice{background:#e8f4ec;border:1px solid #b7dcc4;padding:.5rem .8rem;border-radius:6px}
.notice.bad{background:#fdecec;border-color:#f1b5b5}
.tablewrap{background:var(--card);border:1px solid var(--line);border-radius:8px;overflow:hidden}
table.machines{width:100%;border-collapse:collapse}
.machines th{text-align:left;font-size:.78rem;text-transform:uppercase;letter-spacing:.04em;color:var(--dim);background:#fafbfc;padding:.55rem .7rem;border-bottom:1px solid var(--line)}
.machines td{padding:.55rem .7rem;border-bottom:1px solid var(--line);vertical-align:top}
.machines tr:last-child td{border-bottom:0}
.machines tr.is-disc{background:#faf7ff}
.machines tr.flash{animation:flash 1.2s ease-out}
@keyframes flash{from{background:#fff5c2}to{background:transparent}}
.disc{color:var(--violet);font-style:italic}
.dim{color:var(--dim)}.small{font-size:.82rem}
.reason{color:var(--bad);font-size:.85rem;max-width:28rem;overflow-wrap:anywhere}
.state{display:inline-block;padding:.08rem .5rem;border-radius:999px;font-size:.8rem;font-weight:600;white-space:nowrap;background:#e8ebef;color:#3d4a5a}
.s-discovered{background:#eee7fb;color:var(--violet)}.s-ready{background:#e8ebef;color:#3d4a5a}
.s-assigned{background:#e3eefa;color:var(--info)}.s-cycling{background:#fdf1de;color:var(--warn)}
.s-netbooting{background:#dff3f4;color:var(--cyan)}.s-installing{background:#e6e7fa;color:var(--indigo)}
.s-deployed{background:#e2f4e8;color:var(--ok)}.s-failed{background:#fbe3e3;color:var(--bad)}
.progress{display:inline-flex;gap:2px;vertical-align:middle}
.progress i{display:block;width:9px;height:9px;border-radius:2px;background:#e1e5ea}
.progress i.on{background:var(--cyan)}.p-deployed i.on{background:var(--ok)}.p-failed i.on{background:var(--bad)}.p-installing i.on{background:var(--indigo)}
.plabel{display:block;font-size:.78rem;color:var(--dim);margin-top:.15rem}
.power{font-weight:600;font-size:.85rem}.pw-on{color:var(--ok)}.pw-off{color:var(--bad)}.pw-unknown{color:var(--dim)}
.grid{display:grid;grid-template-columns:minmax(0,1fr) minmax(0,1.25fr);gap:1.2rem;align-items:start}
details.discovered{margin-top:1rem}details.discovered summary{cursor:pointer;color:var(--violet);font-weight:600}
.side{display:flex;flex-direction:column;gap:1rem}.boots h2{margin-top:0}
.card{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:1rem 1.1rem}
.card h2{margin-top:0}
dl{display:grid;grid-template-columns:8rem 1fr;gap:.35rem .8rem;margin:0}dt{color:var(--dim);font-size:.88rem}dd{margin:0;overflow-wrap:anywhere}
.actions{margin-top:1rem;border-top:1px solid var(--line);padding-top:.8rem;display:flex;flex-direction:column;gap:.6rem}
form.act{display:flex;flex-wrap:wrap;align-items:center;gap:.5rem}
form.inline{display:inline}
.lbl{color:var(--dim);font-size:.88rem;min-width:3.5rem}
button{font:inherit;padding:.35rem .9rem;border-radius:6px;border:1px solid #b9c3cf;background:#fff;color:var(--ink);cursor:pointer}
button:hover{background:#f0f4f8}button.danger{color:var(--bad);border-color:#e4b1b1}
button.link{border:0;background:none;padding:0;color:inherit;text-decoration:underline}
select,input[type=password]{font:inherit;padding:.3rem .45rem;border:1px solid #b9c3cf;border-radius:6px;background:#fff}
label.check{font-size:.9rem}
pre.yaml{background:#14202e;color:#dfe6ee;padding:.8rem;border-radius:6px;overflow:auto;user-select:all}
.boot{background:var(--card);border:1px solid var(--line);border-left:4px solid var(--info);border-radius:8px;padding:.6rem 1rem;margin-bottom:.8rem}
.o-deployed{border-left-color:var(--ok)}.o-failed{border-left-color:var(--bad)}.o-local{border-left-color:var(--dim)}
.boot h3{font-size:.98rem;margin:.2rem 0 .5rem;display:flex;flex-wrap:wrap;gap:.2rem .7rem;align-items:baseline}
.boot .outcome{margin-left:auto;font-size:.85rem;color:var(--dim)}
.o-failed .outcome{color:var(--bad);font-weight:600}.o-deployed .outcome{color:var(--ok);font-weight:600}
ol.steps{list-style:none;margin:0;padding:0}
.step{display:grid;grid-template-columns:5.2rem minmax(0,1fr) 5.5rem;gap:.1rem .7rem;padding:.28rem 0 .28rem .7rem;border-left:2px solid var(--line);position:relative}
.step::before{content:"";position:absolute;left:-6px;top:.62rem;width:10px;height:10px;border-radius:50%;background:var(--info)}
.k-power::before{background:var(--warn)}.k-done::before{background:var(--ok)}.k-failed::before{background:var(--bad)}.k-info::before{background:#a0aec0}
.step .t{font-family:ui-monospace,Menlo,monospace;font-size:.82rem;color:var(--dim)}
.step .dur{text-align:right;font-size:.82rem;color:var(--dim)}
.step .detail{grid-column:2/4;font-size:.8rem;color:var(--dim);overflow-wrap:anywhere}
.k-failed .what,.k-failed .detail{color:var(--bad)}
body.login main{max-width:26rem;padding-top:12vh}
.loginform{display:flex;flex-direction:column;gap:.8rem}.loginform h1{margin:0}
.loginform label{display:flex;flex-direction:column;gap:.3rem}
@media (max-width:760px){
  main{padding:.7rem .6rem 2rem}
  .grid{grid-template-columns:1fr}
  .tablewrap{background:none;border:0}
  table.machines thead{display:none}
  table.machines,.machines tbody,.machines tr,.machines td{display:block;width:100%}
  .machines tr{background:var(--card);border:1px solid var(--line);border-radius:8px;margin-bottom:.6rem;padding:.3rem .2rem}
  .machines td{display:grid;grid-template-columns:6.5rem minmax(0,1fr);border:0;padding:.22rem .6rem}
  .machines td::before{content:attr(data-label);color:var(--dim);font-size:.8rem;grid-column:1;grid-row:1/span 3}
  .machines td>*{grid-column:2;justify-self:start}
  .machines tr.empty td{display:block}.machines tr.empty td::before{content:none}
  dl{grid-template-columns:6.5rem 1fr}
  .step{grid-template-columns:4.6rem minmax(0,1fr) 4.5rem}
}
`

export const JS = `'use strict';
(function () {
  var body = document.body, url = body.getAttribute('data-live'), machine = body.getAttribute('data-machine');
  function ago(iso) {
    var s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
    if (s < 60) return s + ' s ago';
    if (s < 3600) return Math.floor(s / 60) + ' min ago';
    if (s < 86400) return Math.floor(s / 3600) + ' h ' + Math.floor(s % 3600 / 60) + ' min ago';
    return Math.floor(s / 86400) + ' d ago';
  }
  function tick() {
    document.querySelectorAll('time[data-ago]').forEach(function (t) { t.textContent = ago(t.getAttribute('datetime')); });
    var up = document.querySelector('[data-uptime]');
    if (up) { var s = Math.round((Date.now() - Number(up.getAttribute('data-uptime'))) / 1000);
      up.textContent = s < 60 ? s + ' s' : s < 3600 ? Math.floor(s / 60) + ' min' : s < 86400 ? Math.floor(s / 3600) + ' h ' + Math.floor(s % 3600 / 60) + ' min' : Math.floor(s / 86400) + ' d ' + Math.floor(s % 86400 / 3600) + ' h'; }
  }
  setInterval(tick, 5000);
  if (!url || !window.EventSource) return;
  var live = document.getElementById('live');
  // resume from the newest event the server had when it rendered this page: nothing falls in between
  var since = body.getAttribute('data-since'), q = [];
  if (machine) q.push('machine=' + encodeURIComponent(machine));
  if (since) q.push('last_event_id=' + encodeURIComponent(since));
  var src = new EventSource(url + (q.length ? '?' + q.join('&') : ''));
  src.onopen = function () { if (live) live.className = 'live on'; };
  src.onerror = function () { if (live) live.className = 'live'; };
  var pending = null;
  function refreshMachine() {
    if (pending) return;
    pending = setTimeout(function () {
      pending = null;
      fetch(location.pathname, { credentials: 'same-origin', headers: { accept: 'text/html' } }).then(function (r) { return r.ok ? r.text() : null; }).then(function (html) {
        if (!html) return;
        var doc = new DOMParser().parseFromString(html, 'text/html');
        ['timeline'].forEach(function (id) { var n = doc.getElementById(id), o = document.getElementById(id); if (n && o) o.replaceWith(n); });
        var nd = doc.querySelector('.card dl'), od = document.querySelector('.card dl');
        if (nd && od) od.replaceWith(nd);
      });
    }, 250);
  }
  function onEvent(ev) {
    var d;
    try { d = JSON.parse(ev.data); } catch (e) { return; }
    body.setAttribute('data-last-event', String(d.id));
    var html = d.html || {};
    if (html.banner !== undefined) {
      var b = document.getElementById('banner');
      if (b) b.outerHTML = html.banner;
      var cs = document.getElementById('cfgstate');
      if (cs) cs.innerHTML = html.banner.indexOf('class="banner"') >= 0 ? '<span class="bad">config error</span>' : '<span class="ok">config ok</span>';
    }
    if (machine) { if (d.type !== 'config.applied' && d.type !== 'config.rejected') refreshMachine(); return; }
    var tbody = document.getElementById('machines');
    if (!tbody || !d.mac) return;
    var id = 'm-' + d.mac.replace(/[^0-9a-f]/gi, '');
    var row = document.getElementById(id);
    if (d.type === 'forgotten') { if (row) row.remove(); return; }
    if (!html.row) return;
    var tmp = document.createElement('tbody');
    tmp.innerHTML = html.row;
    var fresh = tmp.firstElementChild;
    if (!fresh) return;
    fresh.classList.add('flash');
    var empty = tbody.querySelector('tr.empty');
    if (empty) empty.remove();
    if (row) row.replaceWith(fresh); else tbody.appendChild(fresh);
  }
  ['lifecycle', 'power', 'config'].forEach(function (n) { src.addEventListener(n, onEvent); });
  src.addEventListener('gap', function () { location.reload(); });
})();
`

/** a small boot-arrow icon (also answers /favicon.ico, so browsers do not log a 404) */
export const ICON = '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><rect width="32" height="32" rx="7" fill="#14202e"/><path d="M9 22h14M16 8v10m-5-5 5 5 5-5" stroke="#48d17f" stroke-width="3" fill="none" stroke-linecap="round" stroke-linejoin="round"/></svg>'
