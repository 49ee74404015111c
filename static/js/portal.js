/* Progressive enhancement only: the portal works without it. */
(function () {
  var main = document.getElementById("main");
  var skip = document.querySelector(".skip-link");
  // The skip link moves focus to the main content without adding #main to the address:
  // forms post back to the address, and #main there would pull focus away from the
  // field in error on the page that comes back.
  if (skip && main) {
    skip.addEventListener("click", function (event) {
      event.preventDefault();
      main.focus();
    });
  }

  // A form that comes back with errors puts focus on its first field in error, so
  // keyboard and screen-reader users land there and hear the field, "invalid" and its
  // message (Django ties the message to the field with aria-describedby).
  var invalid = document.querySelector("main [aria-invalid='true']");
  if (invalid) {
    invalid.focus();
  }

  // A table too wide for the screen scrolls inside its box: that box becomes a named
  // region keyboard users can reach and scroll with the arrow keys.
  function reachableWhenScrolling() {
    document.querySelectorAll(".table-scroll").forEach(function (box) {
      if (box.scrollWidth > box.clientWidth) {
        box.tabIndex = 0;
        box.setAttribute("role", "region");
        box.setAttribute("aria-labelledby", box.dataset.labelledby);
      } else {
        box.removeAttribute("tabindex");
        box.removeAttribute("role");
        box.removeAttribute("aria-labelledby");
      }
    });
  }
  reachableWhenScrolling();
  window.addEventListener("resize", reachableWhenScrolling);
})();
