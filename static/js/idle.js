/* The idle warning: progressive enhancement only. The server's idle limit is the one that
   signs out; this page only counts down to it (from the time left the server gave when
   the page loaded), warns two minutes before, and "Stay signed in" tells the server
   the person is still here (a POST to the keep-alive address, which resets its clock). */
(function () {
  var dialog = document.getElementById("idle-warning");
  if (!dialog || typeof dialog.showModal !== "function" || !window.fetch) {
    return;
  }
  var status = document.getElementById("idle-status");
  var countdown = dialog.querySelector("[data-idle-countdown]");
  var stay = dialog.querySelector("[data-idle-stay]");
  var warnBefore = parseInt(dialog.dataset.warnBefore, 10) * 1000;
  var deadline = 0;
  var timer = null;
  var tick = null;

  function show(state) {
    dialog.querySelectorAll("[data-idle-state]").forEach(function (part) {
      part.hidden = part.dataset.idleState !== state;
    });
  }

  function left() {
    return Math.max(0, deadline - Date.now());
  }

  function paint() {
    var seconds = Math.ceil(left() / 1000);
    var text = Math.floor(seconds / 60) + ":" + String(seconds % 60).padStart(2, "0");
    countdown.textContent = text;
    if (seconds <= 0) {
      ended();
    }
  }

  function ended() {
    clearInterval(tick);
    show("ended");
    if (!dialog.open) {
      dialog.showModal();
    }
  }

  function warn() {
    show("warning");
    paint();
    if (!dialog.open) {
      dialog.showModal();
    }
    clearInterval(tick);
    tick = setInterval(paint, 1000);
  }

  function schedule(secondsLeft) {
    deadline = Date.now() + secondsLeft * 1000;
    clearTimeout(timer);
    clearInterval(tick);
    timer = setTimeout(warn, Math.max(0, left() - warnBefore));
  }

  function csrfToken() {
    var field = document.querySelector("input[name=csrfmiddlewaretoken]");
    return field ? field.value : "";
  }

  stay.addEventListener("click", function () {
    stay.disabled = true;
    fetch(dialog.dataset.keepAliveUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRFToken": csrfToken(), Accept: "application/json" },
    })
      .then(function (response) {
        return response.json().then(function (body) {
          return { ok: response.ok, body: body };
        });
      })
      .then(function (result) {
        if (!result.ok || !result.body.signed_in) {
          ended();
          return;
        }
        dialog.close();
        status.textContent = status.dataset.stayed;
        schedule(result.body.idle_left);
      })
      .catch(ended)
      .finally(function () {
        stay.disabled = false;
      });
  });

  // Escape closes a dialog: the countdown goes on, and the warning comes back when
  // the time is up.
  dialog.addEventListener("cancel", function () {
    clearInterval(tick);
    clearTimeout(timer);
    timer = setTimeout(ended, left());
  });

  schedule(parseInt(dialog.dataset.idleLeft, 10));
})();
