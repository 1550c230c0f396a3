// "Show the password": the checkbox (hidden until this script runs) turns the password fields it names
// into text fields and back. Without JavaScript the fields stay masked.
"use strict";
document.querySelectorAll("input[data-shows]").forEach((box) => {
  const fields = box.dataset.shows.split(" ").map((id) => document.getElementById(id)).filter(Boolean);
  box.closest(".show-password").hidden = false;
  box.addEventListener("change", () => {
    fields.forEach((f) => { f.type = box.checked ? "text" : "password"; });
  });
});
