/* Buzón de Quejas y Denuncias del IESS: starts the rasa-webchat widget and sends
 * evidence files.
 *
 * The widget talks to Rasa's socket.io channel on this same server. A file chosen
 * with «Adjuntar evidencia» is posted to /webhooks/web/upload with the widget's
 * session id; the server answers {"message": "/inform{...}"} and that message is
 * sent to the bot through the widget, so the bot says in the chat whether the file
 * was accepted or why not.
 */
(function () {
  "use strict";

  var UPLOAD_URL = "/webhooks/web/upload";
  var SESSION_KEY = "chat_session"; // where rasa-webchat keeps {session_id, ...}
  var MAX_BYTES = 20 * 1024 * 1024; // no case accepts a larger file
  var NOT_NOW = "evidence_not_now";

  var webchat = null; // the widget's handle: sendMessage(payload, text), getSessionId()

  function startWidget() {
    var mount = document.getElementById("webchat");
    if (!window.WebChat || typeof window.WebChat.default !== "function" || !mount) {
      setStatus("No se pudo cargar el chat. Recargue la página o escriba a gestiondenuncias@iess.gob.ec.", "error");
      return;
    }
    window.WebChat.default(
      {
        socketUrl: window.location.origin,
        socketPath: "/socket.io/",
        initPayload: "/greet",
        customData: { language: "es" },
        title: "Buzón de Quejas y Denuncias",
        subtitle: "IESS · atención las 24 horas, confidencial",
        inputTextFieldHint: "Escriba su respuesta…",
        connectingText: "Conectando con el asistente…",
        embedded: true,
        showCloseButton: false,
        showFullScreenButton: false,
        hideWhenNotConnected: false,
        withRules: false,
        params: { storage: "session" },
        customMessageDelay: function (message) {
          return Math.min(1200, Math.max(300, (message || "").length * 8));
        },
        innerRef: function (handle) {
          if (handle) {
            webchat = handle;
          }
        }
      },
      mount
    );
  }

  function sessionId() {
    if (webchat && typeof webchat.getSessionId === "function") {
      var fromWidget = webchat.getSessionId();
      if (fromWidget) {
        return fromWidget;
      }
    }
    var stores = [window.sessionStorage, window.localStorage];
    for (var i = 0; i < stores.length; i += 1) {
      try {
        var saved = JSON.parse(stores[i].getItem(SESSION_KEY) || "null");
        if (saved && saved.session_id) {
          return saved.session_id;
        }
      } catch (ignored) {
        // an unreadable entry is the same as none
      }
    }
    return null;
  }

  function setStatus(text, kind) {
    var status = document.getElementById("evidence-status");
    if (!status) {
      return;
    }
    status.textContent = text;
    status.className = "evidence-status" + (kind ? " is-" + kind : "");
  }

  function entities(message) {
    try {
      return JSON.parse(message.slice(message.indexOf("{"))) || {};
    } catch (ignored) {
      return {};
    }
  }

  function upload(file, sender) {
    var form = new FormData();
    form.append("sender", sender); // before the file: read even if the file is too large
    form.append("file", file, file.name);
    return fetch(UPLOAD_URL, { method: "POST", body: form, credentials: "same-origin" })
      .then(function (reply) {
        if (!reply.ok) {
          throw new Error("HTTP " + reply.status);
        }
        return reply.json();
      });
  }

  function sendOne(file) {
    var sender = sessionId();
    if (!sender || !webchat) {
      setStatus("El chat todavía se está conectando. Espere un momento e intente de nuevo.", "error");
      return Promise.resolve();
    }
    if (file.size > MAX_BYTES) {
      setStatus("«" + file.name + "» pesa más de 20 MB, el máximo permitido. Elija un archivo más liviano.", "error");
      return Promise.resolve();
    }
    setStatus("Enviando «" + file.name + "»…", "");
    return upload(file, sender)
      .then(function (answer) {
        var message = answer && answer.message;
        if (typeof message !== "string") {
          throw new Error("no message");
        }
        var found = entities(message);
        if (found.evidence_error === NOT_NOW) {
          setStatus("Adjunte sus archivos cuando el asistente le pida la evidencia.", "error");
          return;
        }
        var name = found.evidence_file || file.name;
        webchat.sendMessage(message, "Archivo adjunto: " + name);
        if (found.evidence_file) {
          setStatus("«" + name + "» enviado.", "ok");
        } else {
          setStatus("«" + file.name + "» no fue aceptado: vea la respuesta del asistente.", "error");
        }
      })
      .catch(function () {
        setStatus("No se pudo enviar «" + file.name + "». Revise su conexión e intente de nuevo.", "error");
      });
  }

  function onFilesChosen(event) {
    var input = event.target;
    var files = Array.prototype.slice.call(input.files || []);
    if (!files.length) {
      return;
    }
    var hadFocus = document.activeElement === input;
    input.disabled = true;
    files
      .reduce(function (previous, file) {
        return previous.then(function () { return sendOne(file); });
      }, Promise.resolve())
      .then(function () {
        input.value = "";
        input.disabled = false;
        if (hadFocus) {
          input.focus();
        }
      });
  }

  // rasa-webchat draws its buttons as <div>s: make them buttons for the keyboard too.
  function keyboardReplies(root) {
    function upgrade() {
      var replies = root.querySelectorAll(".rw-reply:not([tabindex])");
      for (var i = 0; i < replies.length; i += 1) {
        replies[i].setAttribute("role", "button");
        replies[i].setAttribute("tabindex", "0");
      }
    }
    root.addEventListener("keydown", function (event) {
      var target = event.target;
      if ((event.key === "Enter" || event.key === " ") && target.classList &&
          target.classList.contains("rw-reply")) {
        event.preventDefault();
        target.click();
      }
    });
    new MutationObserver(upgrade).observe(root, { childList: true, subtree: true });
  }

  function start() {
    var mount = document.getElementById("webchat");
    if (mount) {
      keyboardReplies(mount);
    }
    var input = document.getElementById("evidence-file");
    if (input) {
      input.addEventListener("change", onFilesChosen);
    }
    startWidget();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
