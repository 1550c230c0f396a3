// The network step's Apply and confirmation: the applied page moves to the new address after a few
// seconds; the confirmation page there takes the one-time code from the URL's fragment (never sent to
// a server) into its form.
"use strict";
(function () {
  const link = document.getElementById("confirm-link");
  if (link) {
    const seconds = Number(link.dataset.moves || "3");
    window.setTimeout(function () { window.location.assign(link.href); }, seconds * 1000);
  }
  const token = document.getElementById("token");
  if (token && window.location.hash.length > 1) {
    token.value = window.location.hash.slice(1);
  }
})();
