/* The modeler on the draft page: the vendored Camunda 7 modeler (camunda-bpmn-js, global BpmnModeler) with its
   properties panel opens the diagram at data-bpmn, marks the elements the deploy checks refused (data-marks:
   element id -> problem) with their messages beside them, and on saving puts the diagram's XML into the save
   form. data-ready says how the diagram opened: ok, warnings or failed (the browser tests read it). */
(function () {
  'use strict';

  function start(editor) {
    var modeler = new window.BpmnModeler({ container: '#canvas', propertiesPanel: { parent: '#panel' } });
    var marks = JSON.parse(editor.getAttribute('data-marks') || '{}');
    var problems = JSON.parse(editor.getAttribute('data-problems') || '[]');
    var dirty = false;
    var saving = false;
    window.opsqaModeler = modeler;

    fetch(editor.getAttribute('data-bpmn'), { credentials: 'same-origin' })
      .then(function (response) {
        if (!response.ok) { throw new Error('HTTP ' + response.status); }
        return response.text();
      })
      .then(function (xml) { return modeler.importXML(xml); })
      .then(function (result) {
        mark(modeler, marks, problems);
        modeler.get('canvas').zoom('fit-viewport', 'auto');
        modeler.on('commandStack.changed', function () { dirty = true; });
        editor.setAttribute('data-ready', result.warnings.length ? 'warnings' : 'ok');
      })
      .catch(function (error) {
        editor.setAttribute('data-ready', 'failed');
        document.getElementById('canvas').textContent = editor.getAttribute('data-failed');
        console.error(error);
      });

    Array.prototype.forEach.call(document.querySelectorAll('.show-element'), function (button) {
      button.addEventListener('click', function () { show(modeler, button.getAttribute('data-element')); });
    });

    var form = document.getElementById('save-form');
    if (form) {
      form.addEventListener('submit', function (event) {
        event.preventDefault();
        modeler.saveXML({ format: true }).then(function (result) {
          document.getElementById('draft-xml').value = result.xml;
          saving = true;
          form.submit();
        });
      });
    }
    window.addEventListener('beforeunload', function (event) {
      if (dirty && !saving) {
        event.preventDefault();
        event.returnValue = editor.getAttribute('data-unsaved');
      }
    });
  }

  /* Each refused element outlined, its problems in a note beside it. */
  function mark(modeler, marks, problems) {
    var canvas = modeler.get('canvas');
    var registry = modeler.get('elementRegistry');
    var overlays = modeler.get('overlays');
    Object.keys(marks).forEach(function (id) {
      if (!registry.get(id)) { return; }
      canvas.addMarker(id, 'mark-' + marks[id]);
      var note = document.createElement('div');
      note.className = 'problem-note';
      note.setAttribute('data-element', id);
      note.textContent = problems.filter(function (p) { return p.element === id; })
        .map(function (p) { return p.message; }).join('\n');
      overlays.add(id, 'problem', { position: { bottom: -6, left: 0 }, html: note });
    });
  }

  function show(modeler, id) {
    var element = modeler.get('elementRegistry').get(id);
    if (!element) { return; }
    modeler.get('canvas').scrollToElement(element);
    modeler.get('selection').select(element);
    document.getElementById('editor').scrollIntoView({ block: 'start' });
  }

  document.addEventListener('DOMContentLoaded', function () {
    var editor = document.getElementById('editor');
    if (editor) { start(editor); }
  });
}());
