/* Draws each [data-bpmn] element's diagram with the vendored bpmn-js viewer and marks its elements
   (data-marks: element id -> completed | ready | waiting | error | current) with canvas.addMarker — the XML is
   never edited. data-ready says how it went: ok, warnings or failed (the browser tests read it). */
(function () {
  'use strict';

  function show(container) {
    var marks = JSON.parse(container.getAttribute('data-marks') || '{}');
    var viewer = new window.BpmnJS({ container: container });
    fetch(container.getAttribute('data-bpmn'), { credentials: 'same-origin' })
      .then(function (response) {
        if (!response.ok) { throw new Error('HTTP ' + response.status); }
        return response.text();
      })
      .then(function (xml) { return viewer.importXML(xml); })
      .then(function (result) {
        var canvas = viewer.get('canvas');
        var registry = viewer.get('elementRegistry');
        Object.keys(marks).forEach(function (id) {
          if (registry.get(id)) { canvas.addMarker(id, 'mark-' + marks[id]); }
        });
        canvas.zoom('fit-viewport', 'auto');
        container.setAttribute('data-ready', result.warnings.length ? 'warnings' : 'ok');
      })
      .catch(function (error) {
        container.setAttribute('data-ready', 'failed');
        container.textContent = container.getAttribute('data-failed');
        console.error(error);
      });
  }

  document.addEventListener('DOMContentLoaded', function () {
    Array.prototype.forEach.call(document.querySelectorAll('[data-bpmn]'), show);
  });
}());
