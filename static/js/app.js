// Small progressive enhancements; every page works without this file.
(function () {
  "use strict";

  if (window.htmx) {
    // Let form errors (422) replace the form in place; other errors stay errors.
    htmx.config.responseHandling = [
      { code: "204", swap: false },
      { code: "[23]..", swap: true },
      { code: "422", swap: true },
      { code: "429", swap: true },
      { code: "503", swap: true },
      { code: "[45]..", swap: false, error: true },
    ];
  }

  function once(el) {
    if (el.dataset.enhanced) return false;
    el.dataset.enhanced = "1";
    return true;
  }

  function setup(root) {
    // Registration: the browser knows the time zone better than a default.
    root.querySelectorAll("[data-browser-timezone]").forEach(function (input) {
      try {
        var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
        if (zone && (!input.value || input.value === "Europe/Paris")) input.value = zone;
      } catch (e) { /* keep the default */ }
    });

    // Invoice form: show the new-client fields only when "+ New client" is chosen.
    root.querySelectorAll("[data-new-client-picker]").forEach(function (select) {
      if (!once(select)) return;
      var fields = select.form && select.form.querySelector("[data-new-client-fields]");
      if (!fields) return;
      var sync = function () { fields.hidden = select.value !== "new"; };
      select.addEventListener("change", sync);
      sync();
    });

    // Destructive buttons ask first.
    root.querySelectorAll("form[data-confirm]").forEach(function (form) {
      if (!once(form)) return;
      form.addEventListener("submit", function (event) {
        if (!window.confirm(form.getAttribute("data-confirm"))) event.preventDefault();
      });
    });

    // File pickers (imports): the chosen file's name next to the "Choose a file" label.
    root.querySelectorAll("input[type=file][data-file-name]").forEach(function (input) {
      if (!once(input)) return;
      var out = document.getElementById(input.dataset.fileName);
      if (!out) return;
      var empty = out.textContent;
      var sync = function () {
        var file = input.files && input.files[0];
        out.textContent = file ? file.name : empty;
        out.classList.toggle("is-chosen", !!file);
      };
      input.addEventListener("change", sync);
      out.hidden = false;
      sync();
    });

    // Overdue tab (issue 5): "Select all" checks or clears every invoice of the list.
    root.querySelectorAll("[data-select-all]").forEach(function (box) {
      if (!once(box)) return;
      box.addEventListener("change", function () {
        var form = box.form;
        if (!form) return;
        form.querySelectorAll('input[type=checkbox][name="' + box.dataset.selectAll + '"]').forEach(function (item) {
          item.checked = box.checked;
        });
      });
    });
  }

  // Tabs that scroll sideways on a phone: the active one is brought into view, and an
  // edge fades where more tabs hide (.fade-start / .fade-end, see app.css).
  function setupTabs(root) {
    var navs = root.matches && root.matches(".tabs") ? [root] : root.querySelectorAll(".tabs");
    Array.prototype.forEach.call(navs, function (nav) {
      if (!once(nav)) return;
      var sync = function () {
        nav.classList.toggle("fade-start", nav.scrollLeft > 1);
        nav.classList.toggle("fade-end", nav.scrollLeft + nav.clientWidth < nav.scrollWidth - 1);
      };
      var active = nav.querySelector(".is-active");
      if (active) {
        var box = nav.getBoundingClientRect();
        var tab = active.getBoundingClientRect();
        if (tab.left < box.left || tab.right > box.right) {
          nav.scrollLeft += tab.left + tab.width / 2 - (box.left + box.width / 2);
        }
      }
      nav.addEventListener("scroll", sync, { passive: true });
      if (window.ResizeObserver) new ResizeObserver(sync).observe(nav);
      sync();
    });
  }

  document.addEventListener("DOMContentLoaded", function () { setup(document); setupTabs(document); });
  document.addEventListener("htmx:load", function (event) { setup(event.detail.elt); setupTabs(event.detail.elt); });

  if ("serviceWorker" in navigator) {
    window.addEventListener("load", function () {
      navigator.serviceWorker.register("/sw.js", { scope: "/" }).catch(function () {});
    });
  }
})();
