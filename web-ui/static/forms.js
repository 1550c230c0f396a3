// Keeps what was typed into a wizard form across a sign-in. When the session ends while a form is being
// filled, its post is answered with the sign-in page; after signing in, the wizard sends the browser back
// to the form's page, and this puts the typed values back (never a password, the CSRF token or a
// one-time code: only the fields of forms marked data-keep, in this tab's sessionStorage) with a notice.
"use strict";
(function () {
  const KEY = "stackbox-typed";
  const here = window.location.pathname;
  let stored = null;
  try {
    stored = JSON.parse(window.sessionStorage.getItem(KEY) || "null");
  } catch (e) {
    stored = null;
  }
  const signingIn = here === "/login" || here === "/set-password";
  if (signingIn) {
    // Kept across the sign-in, marked so that the form's page says where its values came from.
    if (stored) {
      stored.signedIn = true;
      window.sessionStorage.setItem(KEY, JSON.stringify(stored));
    }
    return;
  }
  window.sessionStorage.removeItem(KEY);

  const KEPT = function (el) {
    return el.name && el.name !== "csrf" &&
      !["password", "hidden", "submit", "button", "file", "reset"].includes(el.type);
  };

  function collect(form) {
    return Array.from(form.elements).filter(KEPT).map(function (el) {
      if (el.type === "checkbox" || el.type === "radio") {
        return { name: el.name, value: el.value, checked: el.checked };
      }
      return { name: el.name, value: el.value };
    });
  }

  function restore(form, fields) {
    fields.forEach(function (f) {
      Array.from(form.elements).filter(KEPT).forEach(function (el) {
        if (el.name !== f.name) return;
        if (el.type === "checkbox" || el.type === "radio") {
          if (el.value === f.value) el.checked = f.checked;
        } else {
          el.value = f.value;
        }
      });
    });
  }

  document.querySelectorAll("form[data-keep]").forEach(function (form) {
    const action = form.getAttribute("action") || here;
    if (stored && stored.path === here && stored.action === action && stored.signedIn) {
      restore(form, stored.fields);
      const notice = document.createElement("p");
      notice.className = "notice";
      notice.id = "typed-restored";
      notice.setAttribute("role", "status");
      notice.textContent = "Your session had ended: what you typed is back in the form. Check it and save.";
      form.insertBefore(notice, form.firstChild);
    }
    form.addEventListener("submit", function () {
      window.sessionStorage.setItem(KEY, JSON.stringify({
        path: here, action: action, fields: collect(form), signedIn: false,
      }));
    });
  });
})();
