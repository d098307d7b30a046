/// `GET /`: a small chat page, one self-contained HTML document (no external assets). It
/// streams from `/v1/chat/completions`, folds a reasoning model's thinking away, and sends
/// the API key typed into it (kept in the browser's local storage).
enum ChatPage {
    static let html = #"""
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Martlet</title>
<style>
  body { font: 15px/1.45 system-ui, sans-serif; margin: 0; display: flex; flex-direction: column; height: 100vh; background: #f6f6f4; }
  header { padding: .6em 1em; background: #24323d; color: #fff; display: flex; gap: 1em; align-items: center; }
  header input { flex: 0 1 18em; }
  #log { flex: 1; overflow-y: auto; padding: 1em; }
  .msg { max-width: 46em; margin: .4em 0; padding: .6em .8em; border-radius: .5em; white-space: pre-wrap; }
  .user { background: #dbe9f5; margin-left: auto; }
  .assistant { background: #fff; border: 1px solid #ddd; }
  .error { background: #fbe3e3; }
  details { color: #666; margin-bottom: .4em; }
  form { display: flex; gap: .5em; padding: .8em 1em; background: #eee; }
  textarea { flex: 1; font: inherit; min-height: 3em; }
</style>
</head>
<body>
<header><strong>Martlet</strong><span id="model">…</span><input id="key" type="password" placeholder="API key (if the server needs one)"></header>
<div id="log"></div>
<form id="form"><textarea id="input" placeholder="Message"></textarea><button id="send" type="submit">Send</button></form>
<script>
const log = document.getElementById("log"), input = document.getElementById("input"), keyBox = document.getElementById("key");
keyBox.value = localStorage.getItem("martlet-key") || "";
keyBox.onchange = () => { localStorage.setItem("martlet-key", keyBox.value); loadModel(); };
const history = [];
let model = null;
function headers() {
  const h = { "Content-Type": "application/json" };
  if (keyBox.value) h["Authorization"] = "Bearer " + keyBox.value;
  return h;
}
async function loadModel() {
  try {
    const r = await fetch("/v1/models", { headers: headers() });
    const j = await r.json();
    model = j.data ? j.data[0].id : null;
    document.getElementById("model").textContent = model || (j.error ? j.error.message : "no model");
  } catch (e) { document.getElementById("model").textContent = String(e); }
}
function bubble(cls, text) {
  const d = document.createElement("div");
  d.className = "msg " + cls;
  d.textContent = text || "";
  log.appendChild(d);
  log.scrollTop = log.scrollHeight;
  return d;
}
document.getElementById("form").onsubmit = async (ev) => {
  ev.preventDefault();
  const text = input.value.trim();
  if (!text) return;
  input.value = "";
  bubble("user", text);
  history.push({ role: "user", content: text });
  const out = bubble("assistant", "");
  out.setAttribute("data-state", "streaming");
  const thinking = document.createElement("details"), summary = document.createElement("summary"), thought = document.createElement("div");
  summary.textContent = "Thinking";
  thinking.append(summary, thought);
  const answer = document.createElement("div");
  answer.className = "answer";
  out.append(answer);
  let content = "";
  try {
    const r = await fetch("/v1/chat/completions", { method: "POST", headers: headers(), body: JSON.stringify({ model, messages: history, stream: true }) });
    if (!r.ok) throw new Error((await r.json()).error.message);
    const reader = r.body.getReader(), decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const event = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        if (!event.startsWith("data: ")) continue;
        const data = event.slice(6);
        if (data === "[DONE]") continue;
        const j = JSON.parse(data);
        if (j.error) throw new Error(j.error.message);
        const d = j.choices && j.choices[0] && j.choices[0].delta;
        if (!d) continue;
        const r = d.reasoning_content || d.reasoning;
        if (r) { if (!thinking.parentNode) out.insertBefore(thinking, answer); thought.textContent += r; }
        if (d.content) { content += d.content; answer.textContent = content; }
        log.scrollTop = log.scrollHeight;
      }
    }
    history.push({ role: "assistant", content });
    out.setAttribute("data-state", "done");
  } catch (e) {
    out.className = "msg error";
    out.textContent = String(e.message || e);
    out.setAttribute("data-state", "error");
  }
};
input.addEventListener("keydown", (e) => { if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); document.getElementById("send").click(); } });
loadModel();
</script>
</body>
</html>
"""#
}
