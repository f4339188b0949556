// One websocket to /1.0/events for the whole app. Handlers get every
// operation and lifecycle event; after a reconnect they get {type:'resync'}
// (events may have been missed while the socket was down).
const handlers = new Set();
let ws = null, tries = 0, everOpen = false;

export function onEvent(f) { handlers.add(f); connect(); return () => handlers.delete(f); }

function emit(ev) { for (const f of [...handlers]) { try { f(ev); } catch (e) { console.error(e); } } }

function connect() {
  if (ws) return;
  const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
  ws = new WebSocket(`${proto}//${location.host}/1.0/events?type=operation,lifecycle`);
  ws.onopen = () => {
    tries = 0;
    if (everOpen) emit({ type: 'resync' });
    everOpen = true;
    document.body.dataset.events = 'open';
  };
  ws.onmessage = (m) => { try { emit(JSON.parse(m.data)); } catch { /* not JSON */ } };
  ws.onclose = () => {
    ws = null;
    document.body.dataset.events = 'closed';
    const delay = Math.min(30000, 250 * 2 ** tries++);
    setTimeout(connect, delay);
  };
}

document.addEventListener('visibilitychange', () => { if (!document.hidden && !ws) { tries = 0; connect(); } });
