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
  // Copy buttons next to values to plant (URLs, keys, addresses): added here, so pages without
  // script simply show the value to select by hand.
  function copyButtons(root) {
    if (!navigator.clipboard) return;
    var nodes = root.querySelectorAll('code.copy');
    for (var i = 0; i < nodes.length; i++) {
      var code = nodes[i];
      var b = document.createElement('button');
      b.type = 'button';
      b.className = 'secondary copy-button';
      b.textContent = 'Copy';
      b.setAttribute('aria-label', 'Copy ' + (code.textContent || '').trim().slice(0, 40));
      b.addEventListener('click', (function (el, btn) {
        return function () {
          navigator.clipboard.writeText((el.textContent || '').trim()).then(function () {
            btn.textContent = 'Copied';
            setTimeout(function () { btn.textContent = 'Copy'; }, 2000);
          }, function () { btn.textContent = 'Select and copy by hand'; });
        };
      })(code, b));
      code.insertAdjacentElement('afterend', b);
    }
  }
  // File fields (an uploaded image): a file picker reads the chosen file into the field as a
  // data: URL (base64), which the form posts like any text. Without script, paste the base64.
  function uploads(root) {
    if (!window.FileReader) return;
    var areas = root.querySelectorAll('textarea[data-upload]');
    for (var i = 0; i < areas.length; i++) {
      var area = areas[i];
      var pick = document.createElement('input');
      pick.type = 'file';
      pick.id = area.id + '-file';
      pick.className = 'upload';
      pick.setAttribute('accept', area.getAttribute('data-upload') || '');
      pick.setAttribute('aria-label', 'Choose a file for this field');
      pick.addEventListener('change', (function (field, input) {
        return function () {
          var file = input.files && input.files[0];
          if (!file) return;
          var reader = new FileReader();
          reader.onload = function () { field.value = String(reader.result || ''); };
          reader.readAsDataURL(file);
        };
      })(area, pick));
      area.insertAdjacentElement('beforebegin', pick);
    }
  }
  // After a failed submit the error summary takes focus (the autofocus attribute does this too).
  function focusSummary() {
    var box = document.getElementById('error-summary');
    if (box && document.activeElement !== box) box.focus();
  }
  document.addEventListener('DOMContentLoaded', function () {
    localize(document);
    selectAll(document);
    copyButtons(document);
    uploads(document);
    focusSummary();
  });
})();
