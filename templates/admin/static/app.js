// Honeytrail admin: progressive enhancements only; every page works without this file.
// Times are rendered in UTC by the server; here they are shown in the viewer's time zone,
// with the UTC time kept in the tooltip.
(function () {
  'use strict';
  var fmt;
  try {
    fmt = new Intl.DateTimeFormat(undefined, {
      year: 'numeric', month: 'short', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit', timeZoneName: 'short',
    });
  } catch (e) {
    return;
  }
  function localize(root) {
    var nodes = root.querySelectorAll('time[datetime]');
    for (var i = 0; i < nodes.length; i++) {
      var el = nodes[i];
      var d = new Date(el.getAttribute('datetime'));
      if (isNaN(d.getTime())) continue;
      if (!el.title) el.title = el.textContent;
      el.textContent = fmt.format(d);
      el.setAttribute('data-local', '1');
    }
  }
  // Bulk forms: a "select all" box in the header of tables whose rows carry checkboxes named ids.
  function selectAll(root) {
    var tables = root.querySelectorAll('table');
    for (var i = 0; i < tables.length; i++) {
      var boxes = tables[i].querySelectorAll('tbody input[type=checkbox][name=ids]');
      var th = tables[i].querySelector('thead th');
      if (!boxes.length || !th) continue;
      var all = document.createElement('input');
      all.type = 'checkbox';
      all.className = 'select-all';
      all.setAttribute('aria-label', 'Select all rows');
      all.addEventListener('change', (function (list, box) {
        return function () { for (var j = 0; j < list.length; j++) list[j].checked = box.checked; };
      })(boxes, all));
      th.appendChild(all);
    }
  }
  document.addEventListener('DOMContentLoaded', function () {
    localize(document);
    selectAll(document);
  });
})();
