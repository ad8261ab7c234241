// The console works without scripts; this only adds the copy buttons.
document.addEventListener("click", function (e) {
  var button = e.target.closest("[data-copy]");
  if (!button) return;
  var text = document.getElementById(button.getAttribute("data-copy")).textContent;
  navigator.clipboard.writeText(text).then(function () {
    button.textContent = "Copied";
  }, function () {
    button.textContent = "Select and copy";
  });
});
