// Live progress for the install page: server-sent events from /api/v1/events update the step list,
// the bar and the log tail. The page works without this script (it refreshes itself while running).
"use strict";
(function () {
  const progress = document.getElementById("progress");
  if (!progress || !window.EventSource) return;
  const phase = progress.dataset.phase;
  const bar = document.getElementById("bar");
  const count = document.getElementById("count");
  const log = document.getElementById("log");
  const LOG_LINES = 200;

  function counts() {
    const items = document.querySelectorAll("#steps li");
    let finished = 0;
    items.forEach(function (li) {
      if (li.classList.contains("step-done") || li.classList.contains("step-skipped")) finished++;
    });
    bar.max = items.length;
    bar.value = finished;
    count.textContent = finished + " of " + items.length + " steps";
  }

  function showStep(step) {
    const li = document.querySelector('#steps li[data-id="' + CSS.escape(step.id) + '"]');
    if (!li) return;
    li.className = "step-" + step.status;
    li.querySelector(".status").textContent = step.status;
    li.querySelector(".detail").textContent = step.detail;
    if (step.status === "running") {
      document.getElementById("phase").textContent = "Running " + step.name + ": " + step.title;
    }
    counts();
  }

  function appendLog(line) {
    log.textContent += line.step + ": " + line.line + "\n";
    const lines = log.textContent.split("\n");
    if (lines.length > LOG_LINES + 1) log.textContent = lines.slice(-LOG_LINES - 1).join("\n");
    log.scrollTop = log.scrollHeight;
  }

  // The running time counts on every second from the run's start.
  const elapsed = document.querySelector("#elapsed .elapsed[data-since]");
  if (elapsed) {
    const since = Number(elapsed.dataset.since);
    window.setInterval(function () {
      const secs = Math.max(0, Math.floor(Date.now() / 1000) - since);
      elapsed.textContent = secs < 60 ? secs + " s"
        : secs < 3600 ? Math.floor(secs / 60) + " min " + (secs % 60) + " s"
        : Math.floor(secs / 3600) + " h " + Math.floor((secs % 3600) / 60) + " min";
    }, 1000);
  }

  const events = new EventSource("/api/v1/events");
  events.addEventListener("snapshot", function (e) {
    const p = JSON.parse(e.data);
    // A new phase (started, failed, complete) re-renders the page from the server.
    if (p.phase !== phase) {
      events.close();
      window.location.reload();
      return;
    }
    p.steps.forEach(showStep);
  });
  events.addEventListener("step", function (e) { showStep(JSON.parse(e.data)); });
  events.addEventListener("log", function (e) { appendLog(JSON.parse(e.data)); });
})();
