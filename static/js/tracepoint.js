// Toasts for htmx responses that send HX-Trigger: {"toast": {"message", "level"}}.
document.addEventListener("toast", (event) => {
  const { message, level } = event.detail || {};
  if (!message) return;
  let box = document.querySelector(".messages");
  if (!box) {
    box = document.createElement("div");
    box.className = "messages";
    box.setAttribute("role", "status");
    box.setAttribute("aria-live", "polite");
    document.querySelector("main").before(box);
  }
  const note = document.createElement("p");
  note.className = `message ${level === "error" ? "error" : "success"}`;
  note.textContent = message;
  box.append(note);
  setTimeout(() => note.remove(), 6000);
});

// Submit buttons disable while their form posts (no double submissions). Plain forms: after the
// submit event, so the clicked button's name and value are still sent; a page restored from the
// back/forward cache gets them back. htmx forms and buttons: from the request until its answer.
function submitButtons(root) {
  if (root.matches && root.matches("button, input[type=submit]")) return [root];
  return root.querySelectorAll ? root.querySelectorAll("button[type=submit], button:not([type]), input[type=submit]") : [];
}
function markBusy(root) {
  submitButtons(root).forEach((button) => {
    if (button.disabled) return;
    button.disabled = true;
    button.dataset.busy = "1";
    button.setAttribute("aria-busy", "true");
  });
}
function releaseBusy(root) {
  const found = root.querySelectorAll ? [...root.querySelectorAll("[data-busy]")] : [];
  if (root.dataset && root.dataset.busy) found.push(root);
  found.forEach((button) => {
    button.disabled = false;
    delete button.dataset.busy;
    button.removeAttribute("aria-busy");
  });
}
document.addEventListener("submit", (event) => {
  const form = event.target;
  if (event.defaultPrevented || !(form instanceof HTMLFormElement) || form.method.toLowerCase() !== "post") return;
  setTimeout(() => markBusy(form), 0);
});
document.addEventListener("htmx:beforeRequest", (event) => {
  const elt = event.detail && event.detail.elt;
  if (elt && (elt instanceof HTMLFormElement || elt.matches("button, input[type=submit]"))) markBusy(elt);
});
document.addEventListener("htmx:afterRequest", (event) => {
  const elt = event.detail && event.detail.elt;
  if (elt) releaseBusy(elt);
});
window.addEventListener("pageshow", () => releaseBusy(document));
