// The sign-in form works without script; this only shows a refused
// sign-in (the server sends the browser back to /ui/login?failed) and
// puts the cursor in the token field.
document.addEventListener('DOMContentLoaded', () => {
  const failed = new URLSearchParams(location.search).has('failed');
  document.getElementById('error').hidden = !failed;
  const token = document.getElementById('token');
  token.focus();
  if (failed) token.select();
});
