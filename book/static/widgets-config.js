// Widgets in the built book, served by the book itself.
(function () {
  // The widget manager's own assets (fonts) come from the copy in _static/, next to this
  // file, rather than from a path under each page's folder or a CDN. Each bundled module
  // (@jupyter-widgets/base, controls, output, html-manager) finds its fonts next to its own
  // AMD module URL, so every one of them must resolve into html-manager/: with the dist path
  // alone, a page whose controls module loaded first asked for the fonts under its own folder.
  var base = document.currentScript.src.replace(/[^/]*$/, "");
  require.config({
    paths: {
      "@jupyter-widgets": base + "html-manager",
      "@jupyter-widgets/html-manager/dist": base + "html-manager",
    },
  });

  // The widgets typeset their labels through MathJax 2's MathJax.Hub.Queue; the book loads
  // MathJax 3 (deferred, so it has run by DOMContentLoaded), which has no Hub. Give it one
  // that forwards to MathJax 3's typesetter, before the widget manager renders on load.
  document.addEventListener("DOMContentLoaded", function () {
    if (window.MathJax && window.MathJax.version && !window.MathJax.Hub) {
      window.MathJax.Hub = {
        Queue: function (command) {
          MathJax.startup.promise.then(function () { return MathJax.typesetPromise([command[2]]); });
        },
      };
    }
  });
})();
