// The login page: a link from `lodge ui` carries ?login=TOKEN. The token
// is sent once, by POST (a link preview that fetches the page uses nothing
// up), then dropped from the address bar and history.
const status = document.getElementById('login-status');
const params = new URLSearchParams(location.search);
const token = params.get('login');
if (token) {
  history.replaceState(null, '', location.pathname);
  status.textContent = 'Logging in…';
  fetch('/ui/login', {
    method: 'POST', credentials: 'same-origin',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ token }),
  }).then(async (r) => {
    if (r.ok) { location.replace(location.pathname); return; }
    const j = await r.json().catch(() => ({}));
    status.textContent = j.error || `Login failed (HTTP ${r.status}).`;
    status.classList.add('error');
    status.dataset.testid = 'login-error';
  }, (e) => { status.textContent = 'Login failed: ' + e.message; status.classList.add('error'); });
}
