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
