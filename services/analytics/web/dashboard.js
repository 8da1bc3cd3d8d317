// The operators' dashboard (docs/analytics-dashboard.md): reads analytics'
// API with the operator's bearer token (asked once, kept in
// sessionStorage), draws the three rates against the previous period of
// the same length, the daily volume, the categories, the ranking of the
// units below, the hot spots, the overdue work (now), notify's deliveries
// and matching's volunteering, and refreshes itself every few seconds.
// Clicking a unit in the ranking drills down (district -> sub-district ->
// community -> grid); the breadcrumb goes back up. Data from the API is
// only ever set as text (textContent), never as HTML.
(function () {
  'use strict';

  var REFRESH_MS = 5000;
  var TZ = 'Asia/Shanghai'; // the API's dates are China-time days
  var RATES = ['response', 'resolution', 'satisfaction'];
  var CATEGORIES = {
    road: '道路设施', sanitation: '环境卫生', property: '物业管理', dispute: '矛盾纠纷',
    elderly_care: '养老服务', safety_hazard: '安全隐患', public_order: '治安秩序',
    noise: '噪音扰民', parking: '停车管理', utilities: '水电气暖', social_security: '社保救助',
    customs: '移风易俗', other: '其他'
  };
  var LEVELS = { district: '区', subdistrict: '街道', community: '社区', grid: '网格', department: '部门' };
  var CHILD_LEVELS = { district: '街道', subdistrict: '社区', community: '网格' };
  // notify's channel codes (services/notify/notify_channel.c); others shown as they are.
  var CHANNELS = { sms: '短信', email: '邮件', webhook: '接口推送', wechat: '微信', log: '日志' };
  var OVERDUE_TOP = 10; // units and people listed on the overdue card, most overdue first

  var state = {
    token: sessionStorage.getItem('gz.token') || '',
    node: sessionStorage.getItem('gz.node') || '',
    days: Number(sessionStorage.getItem('gz.days')) || 7,
    timer: null,
    generation: 0, // a load started before a drill-down must not draw
    charts: {}
  };

  function $(id) { return document.getElementById(id); }
  function text(el, t) { el.textContent = t; return el; }
  function make(tag, t) { var e = document.createElement(tag); if (t !== undefined) e.textContent = t; return e; }

  // Dates: YYYY-MM-DD in China time.
  function today() {
    return new Intl.DateTimeFormat('en-CA', { timeZone: TZ, year: 'numeric', month: '2-digit', day: '2-digit' })
      .format(new Date());
  }
  function addDays(day, n) {
    var d = new Date(day + 'T00:00:00Z');
    d.setUTCDate(d.getUTCDate() + n);
    return d.toISOString().slice(0, 10);
  }
  function period() {
    var to = today(), from = addDays(to, 1 - state.days);
    return { from: from, to: to, prevFrom: addDays(from, -state.days), prevTo: addDays(from, -1) };
  }
  function percent(rate) { return rate === null || rate === undefined ? '—' : (rate * 100).toFixed(1) + '%'; }

  function Unauthorized() { this.message = 'unauthorized'; }

  function api(path, params) {
    var q = new URLSearchParams(params || {}).toString();
    return fetch('/api/v1/' + path + (q ? '?' + q : ''), {
      headers: { Authorization: 'Bearer ' + state.token }, cache: 'no-store'
    }).then(function (r) {
      if (r.status === 401) throw new Unauthorized();
      return r.json().then(function (body) {
        if (!r.ok) throw new Error((body.error && body.error.message) || ('HTTP ' + r.status));
        return body;
      });
    });
  }

  // ---- drawing

  function drawRate(which, now, prev) {
    var r = now[which].rate, p = prev[which].rate;
    var v = $('rate-' + which);
    text(v, percent(r));
    v.setAttribute('data-value', r === null ? 'null' : String(r));
    var t = $('trend-' + which);
    t.className = 'trend';
    if (r === null || p === null) {
      text(t, '较上期 —');
    } else {
      var d = (r - p) * 100;
      t.className = 'trend ' + (d > 0.05 ? 'up' : d < -0.05 ? 'down' : '');
      text(t, '较上期 ' + (d > 0.05 ? '↑ ' : d < -0.05 ? '↓ ' : '持平 ') +
        (Math.abs(d) > 0.05 ? Math.abs(d).toFixed(1) + ' 个百分点' : ''));
    }
    var x = now[which];
    var detail = which === 'response' ? '按时响应 ' + x.on_time + ' / 应响应 ' + x.due +
      (x.overdue_unreached ? '，超时未响应 ' + x.overdue_unreached : '')
      : which === 'resolution' ? '已解决 ' + x.resolved + ' / ' + x.total + '，按时 ' + x.on_time
      : '满意 ' + x.satisfied + ' / 已评价 ' + x.rated;
    text($('detail-' + which), detail);
  }

  function drawRequests(now, prev) {
    text($('requests'), String(now.requests));
    var d = now.requests - prev.requests;
    var t = $('trend-requests');
    t.className = 'trend';
    text(t, '较上期 ' + (d > 0 ? '↑ ' + d : d < 0 ? '↓ ' + (-d) : '持平'));
    text($('detail-requests'), '重开 ' + now.reopened + '，合并 ' + now.merged + '，无效 ' + now.invalid);
  }

  function chart(id) {
    if (!state.charts[id]) state.charts[id] = echarts.init($(id), null, { renderer: 'canvas' });
    return state.charts[id];
  }

  function drawVolume(trends, p) {
    var byDay = {};
    trends.days.forEach(function (d) { byDay[d.day] = d; });
    var days = [], requests = [], resolved = [];
    for (var day = p.from; day <= p.to; day = addDays(day, 1)) {
      days.push(day.slice(5));
      requests.push(byDay[day] ? byDay[day].requests : 0);
      resolved.push(byDay[day] ? byDay[day].resolved : 0);
    }
    chart('chart-volume').setOption({
      animation: false,
      tooltip: { trigger: 'axis' },
      legend: { top: 0, data: ['诉求量', '已解决'] },
      grid: { left: 40, right: 16, top: 36, bottom: 28 },
      xAxis: { type: 'category', data: days },
      yAxis: { type: 'value', minInterval: 1 },
      series: [
        { name: '诉求量', type: 'bar', data: requests, itemStyle: { color: '#2f6fdb' } },
        { name: '已解决', type: 'line', data: resolved, itemStyle: { color: '#1a9c5b' } }
      ]
    });
  }

  function drawCategories(trends) {
    var cat = (trends.volumes && trends.volumes.category) || {};
    var data = Object.keys(cat).map(function (k) { return { name: CATEGORIES[k] || k, value: cat[k] }; })
      .sort(function (a, b) { return b.value - a.value; });
    chart('chart-category').setOption({
      animation: false,
      tooltip: { trigger: 'item', formatter: '{b}：{c}（{d}%）' },
      title: data.length ? { show: false } : { show: true, text: '暂无诉求', left: 'center', top: 'middle',
        textStyle: { color: '#6b7785', fontSize: 14, fontWeight: 'normal' } },
      series: [{ type: 'pie', radius: ['40%', '70%'], data: data, label: { formatter: '{b}\n{c}' } }]
    });
  }

  function cellRate(u, which) {
    var td = make('td', percent(u[which]));
    if (u.rank && u.rank[which] !== null && u.rank[which] !== undefined)
      td.appendChild(make('span', '第' + u.rank[which] + '名')).className = 'rank';
    return td;
  }

  function drawRanking(ranking, unit, names) {
    var body = $('ranking').tBodies[0];
    body.textContent = '';
    text($('ranking-title'), (CHILD_LEVELS[unit.level] || '下级单位') + '排名');
    var drillable = unit.level === 'district' || unit.level === 'subdistrict' || unit.level === 'community';
    ranking.units.forEach(function (u) {
      var tr = make('tr');
      var td = make('td');
      var name = names[u.node] || u.node;
      if (drillable) {
        var b = make('button', name);
        b.type = 'button';
        b.setAttribute('data-node', u.node);
        b.addEventListener('click', function () { go(u.node); });
        td.appendChild(b);
      } else {
        td.textContent = name;
      }
      tr.appendChild(td);
      tr.appendChild(make('td', String(u.requests)));
      RATES.forEach(function (w) { tr.appendChild(cellRate(u, w)); });
      body.appendChild(tr);
    });
    if (!ranking.units.length) {
      var tr = make('tr'), td = make('td', '没有下级单位');
      td.colSpan = 5; td.className = 'empty';
      tr.appendChild(td); body.appendChild(tr);
    }
    text($('ranking-note'), '诉求量不足 ' + ranking.min_sample + ' 件的单位列出但不参与排名。' +
      (drillable ? '点击单位名称查看下一级。' : ''));
  }

  function drawHotspots(hot) {
    var body = $('hotspots').tBodies[0];
    body.textContent = '';
    hot.hotspots.forEach(function (h) {
      var tr = make('tr');
      tr.appendChild(make('td', h.building));
      tr.appendChild(make('td', CATEGORIES[h.category] || h.category || '全部'));
      tr.appendChild(make('td', String(h.requests)));
      body.appendChild(tr);
    });
    if (!hot.hotspots.length) {
      var tr = make('tr'), td = make('td', '暂无热点');
      td.colSpan = 3; td.className = 'empty';
      tr.appendChild(td); body.appendChild(tr);
    }
    text($('hotspots-note'), hot.from + ' 至 ' + hot.to + '，同一楼栋同类诉求不少于 ' + hot.min + ' 件。');
  }

  // A table body: one row per item (cells from cellsOf), or one muted row
  // saying `empty` across `columns` when there are none.
  function fillRows(body, items, cellsOf, columns, empty) {
    body.textContent = '';
    items.forEach(function (it) {
      var tr = make('tr');
      cellsOf(it).forEach(function (c) { tr.appendChild(c instanceof Node ? c : make('td', String(c))); });
      body.appendChild(tr);
    });
    if (!items.length && empty) {
      var tr = make('tr'), td = make('td', empty);
      td.colSpan = columns; td.className = 'empty';
      tr.appendChild(td); body.appendChild(tr);
    }
  }

  function lateCell(n) { var td = make('td', String(n)); td.className = 'late'; return td; }

  // /api/v1/staff: work in hand now, the units and people with overdue work.
  function drawOverdue(staff) {
    var open = 0, overdue = 0;
    staff.units.forEach(function (u) { open += u.open; overdue += u.overdue; });
    text($('overdue-open'), String(open));
    text($('overdue-total'), String(overdue));
    $('overdue-empty').hidden = overdue > 0;
    $('overdue-lists').hidden = overdue === 0;
    function late(x) { return x.overdue > 0; }
    fillRows($('overdue-units').tBodies[0], staff.units.filter(late).slice(0, OVERDUE_TOP), function (u) {
      return [u.unit_name || u.unit || '未分派', u.open, lateCell(u.overdue)];
    }, 3);
    fillRows($('overdue-staff').tBodies[0], staff.staff.filter(late).slice(0, OVERDUE_TOP), function (p) {
      return [p.name || p.staff || '未分派', p.unit_name || p.unit || '', p.open, lateCell(p.overdue)];
    }, 4);
    text($('overdue-note'), '超过办理时限仍未办结，截至当前；各列前 ' + OVERDUE_TOP + ' 个。');
  }

  // /api/v1/notifications: deliveries that ended in the period, per channel.
  function drawNotifications(n) {
    text($('notify-sent'), String(n.sent));
    text($('notify-dead'), String(n.dead));
    text($('notify-skipped'), String(n.skipped));
    var ch = n.channels || {};
    function total(c) { return ch[c].sent + ch[c].dead + ch[c].skipped; }
    var codes = Object.keys(ch).sort(function (a, b) { return total(b) - total(a) || (a < b ? -1 : 1); });
    fillRows($('notify-channels').tBodies[0], codes, function (c) {
      return [CHANNELS[c] || c, ch[c].sent, ch[c].dead, ch[c].skipped];
    }, 4, '暂无通知');
  }

  // /api/v1/volunteers: matching's counts in the period.
  function drawVolunteers(v) {
    text($('vol-needs'), String(v.needs));
    text($('vol-accepted'), String(v.accepted));
    text($('vol-services'), String(v.services));
    text($('vol-hours'), String(Math.round(v.service_hours * 10) / 10));
    text($('vol-earned'), String(v.points_earned));
    text($('vol-redeemed'), String(v.points_redeemed));
  }

  function drawCrumbs(unit) {
    var nav = $('crumbs');
    nav.textContent = '';
    unit.path.forEach(function (p, i) {
      if (i > 0) nav.appendChild(make('span', '›')).className = 'sep';
      if (i === unit.path.length - 1) {
        nav.appendChild(make('span', p.name)).setAttribute('aria-current', 'page');
      } else {
        var b = make('button', p.name);
        b.type = 'button';
        b.setAttribute('data-node', p.node);
        b.addEventListener('click', function () { go(p.node); });
        nav.appendChild(b);
      }
    });
    var h = $('node-name');
    text(h, unit.name);
    h.setAttribute('data-node', unit.node);
    h.setAttribute('data-level', unit.level);
  }

  // ---- loading

  function load() {
    var gen = ++state.generation;
    var p = period();
    var unit;
    return api('nodes', state.node ? { node: state.node } : {}).then(function (u) {
      unit = u;
      var q = { node: u.node, from: p.from, to: p.to };
      return Promise.all([
        api('rates', q),
        api('rates', { node: u.node, from: p.prevFrom, to: p.prevTo }),
        api('trends', q),
        api('rankings', q),
        api('hotspots', { node: u.node }),
        api('staff', { node: u.node }),
        api('notifications', q),
        api('volunteers', q)
      ]);
    }).then(function (r) {
      if (gen !== state.generation) return;
      var names = {};
      unit.children.forEach(function (c) { names[c.node] = c.name; });
      drawCrumbs(unit);
      var per = $('period');
      text(per, (LEVELS[unit.level] || '') + ' · ' + p.from + ' 至 ' + p.to + '（对比 ' + p.prevFrom + ' 至 ' +
        p.prevTo + '）');
      per.setAttribute('data-from', p.from);
      per.setAttribute('data-to', p.to);
      RATES.forEach(function (w) { drawRate(w, r[0], r[1]); });
      drawRequests(r[0], r[1]);
      drawVolume(r[2], p);
      drawCategories(r[2]);
      drawRanking(r[3], unit, names);
      drawHotspots(r[4]);
      drawOverdue(r[5]);
      drawNotifications(r[6]);
      drawVolunteers(r[7]);
      var s = $('status');
      text(s, '更新于 ' + new Date().toLocaleTimeString('zh-CN', { timeZone: TZ, hour12: false }));
      s.className = 'status';
      document.body.setAttribute('data-loaded', String(gen));
    }).catch(function (e) {
      if (e instanceof Unauthorized) { logout('令牌无效或已过期，请重新输入。'); return; }
      if (state.node && /no such unit/.test(e.message)) { go(''); return; }
      text($('status'), '更新失败：' + e.message + '（稍后自动重试）').className = 'status error';
    });
  }

  function schedule() {
    clearTimeout(state.timer);
    state.timer = setTimeout(function () {
      if (!state.token) return;
      (document.hidden ? Promise.resolve() : load()).then(schedule);
    }, REFRESH_MS);
  }

  function start() {
    $('login').hidden = true;
    $('board').hidden = false;
    $('logout').hidden = false;
    load().then(schedule);
    Object.keys(state.charts).forEach(function (k) { state.charts[k].resize(); });
  }

  function go(node) {
    state.node = node;
    sessionStorage.setItem('gz.node', node);
    load().then(schedule);
  }

  function logout(message) {
    clearTimeout(state.timer);
    state.token = '';
    sessionStorage.removeItem('gz.token');
    $('board').hidden = true;
    $('logout').hidden = true;
    $('login').hidden = false;
    text($('login-error'), message || '');
    $('token').focus();
  }

  document.addEventListener('DOMContentLoaded', function () {
    var days = $('days');
    days.value = String(state.days);
    if (days.value !== String(state.days)) { state.days = 7; days.value = '7'; }
    days.addEventListener('change', function () {
      state.days = Number(days.value);
      sessionStorage.setItem('gz.days', days.value);
      load().then(schedule);
    });
    $('login-form').addEventListener('submit', function (ev) {
      ev.preventDefault();
      state.token = $('token').value.trim();
      $('token').value = '';
      if (!state.token) return;
      sessionStorage.setItem('gz.token', state.token);
      start();
    });
    $('logout').addEventListener('click', function () { logout(''); });
    window.addEventListener('resize', function () {
      Object.keys(state.charts).forEach(function (k) { state.charts[k].resize(); });
    });
    if (state.token) start(); else logout('');
  });
})();
