// The editing page's one script (issue 22): the note's preview follows what is typed. The text
// is posted (with the form's CSRF token) to edit/note-preview, which stores nothing and answers
// the note as the email will show it, sanitized by digest.notes; an answer older than the one
// shown is ignored. Without script the page works the same, the preview updating on Save.
(function () {
  'use strict';
  var box = document.getElementById('note-text');
  var shown = document.getElementById('note-preview');
  var status = document.getElementById('note-status');
  if (!box || !shown || !box.form) { return; }
  var url = box.getAttribute('data-preview');
  var asked = 0;
  var latest = 0;
  var timer = null;

  function update() {
    var mine = ++asked;
    var body = new URLSearchParams();
    body.set('csrf', box.form.elements.namedItem('csrf').value);
    body.set('text', box.value);
    fetch(url, { method: 'POST', body: body, credentials: 'same-origin' })
      .then(function (answer) {
        return answer.text().then(function (text) { return { ok: answer.ok, text: text }; });
      })
      .then(function (answer) {
        if (mine < latest) { return; }
        latest = mine;
        if (answer.ok) {
          shown.innerHTML = answer.text;  // digest.notes.note_html's sanitized fragment
          if (status) { status.textContent = ''; }
        } else if (status) {
          status.textContent = answer.text;
        }
        shown.setAttribute('data-preview-of', String(mine));
      })
      .catch(function () {
        if (status) { status.textContent = 'The preview could not be updated.'; }
      });
  }

  box.addEventListener('input', function () {
    if (timer !== null) { clearTimeout(timer); }
    timer = setTimeout(update, 200);
  });
}());
