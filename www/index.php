<?php
// quicsteer demo: what the server tells PHP about this request.
$s = $_SERVER;
$upload = null;
if ($s['REQUEST_METHOD'] === 'POST') {
	if (!empty($_FILES['file']) && $_FILES['file']['error'] === UPLOAD_ERR_OK) {
		$f = $_FILES['file'];
		$upload = sprintf('%s: %d bytes, sha256 %s', $f['name'], $f['size'],
			hash_file('sha256', $f['tmp_name']));
	}
}
function h($v) { return htmlspecialchars((string)$v, ENT_QUOTES); }
?>
<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>quicsteer demo</title></head>
<body>
<h1>quicsteer</h1>
<table>
<tr><th>protocol</th><td><?= h($s['SERVER_PROTOCOL'] ?? '') ?></td></tr>
<tr><th>worker</th><td><?= h($s['QUICSTEER_WORKER'] ?? '') ?></td></tr>
<tr><th>your address now</th><td><?= h(($s['REMOTE_ADDR'] ?? '') . ' port ' . ($s['REMOTE_PORT'] ?? '')) ?></td></tr>
<tr><th>TLS session resumed</th><td><?= ($s['SSL_SESSION_REUSED'] ?? '.') === 'r' ? 'yes (a ticket; any worker opens it)' : 'no (full handshake)' ?></td></tr>
<tr><th>0-RTT</th><td><?= ($s['HTTP_EARLY_DATA'] ?? '') === '1' ? 'yes: this request came in early data' : 'no' ?></td></tr>
<tr><th>method</th><td><?= h($s['REQUEST_METHOD']) ?></td></tr>
</table>
<?php if ($s['REQUEST_METHOD'] === 'POST'): ?>
<p>form field: <?= h($_POST['message'] ?? '') ?></p>
<p>upload: <?= h($upload ?? 'none') ?></p>
<?php endif; ?>
<form method="post"><input name="message"> <button>POST</button></form>
<form method="post" enctype="multipart/form-data"><input type="file" name="file"> <button>upload</button></form>
</body>
</html>
