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
  document.addEventListener('DOMContentLoaded', function () {
    localize(document);
  });
})();
