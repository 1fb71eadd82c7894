// The page's side of the Vosk protocol: the microphone through an AudioWorklet to the
// WebSocket as 16-bit PCM, partials shown in place, finals listed with their times; and
// POST /transcribe for a file. A ?token=T in the page's address is passed on to the server.
"use strict";
const $ = (id) => document.getElementById(id);
const token = new URLSearchParams(location.search).get("token");
let capture = null;  // {socket, context, media, node} while the microphone runs

function clock(seconds) {
  const minutes = Math.floor(seconds / 60);
  return `${minutes}:${(seconds - minutes * 60).toFixed(2).padStart(5, "0")}`;
}

function showStatus(text) { $("status").textContent = text; }

function showMessage(message) {
  if ("partial" in message) {
    $("partial").textContent = message.partial;
    return;
  }
  $("partial").textContent = "";
  if (!message.text) return;
  const words = message.result || [];
  const item = document.createElement("li");
  const time = document.createElement("span");
  time.className = "time";
  time.textContent = words.length ? `${clock(words[0].start)}–${clock(words[words.length - 1].end)}` : "";
  item.append(time, message.text);
  $("finals").append(item);
}

function socketUrl() {
  const url = new URL("/ws", location.href);
  url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
  if (token) url.searchParams.set("token", token);
  return url;
}

function release() {
  if (!capture) return;
  if (capture.media) capture.media.getTracks().forEach((track) => track.stop());
  capture.context.close();
  capture = null;
  $("start").disabled = false;
  $("stop").disabled = true;
}

async function start() {
  // The socket and the worklet are ready before the microphone opens, so no speech is lost.
  $("start").disabled = true;
  try {
    const context = new AudioContext();  // the device's rate: the server resamples
    capture = {context, media: null, socket: null, node: null};
    await context.audioWorklet.addModule("/static/pcm-worklet.js");
    const socket = new WebSocket(socketUrl());
    socket.binaryType = "arraybuffer";
    capture.socket = socket;
    await new Promise((resolve, reject) => {
      socket.onopen = resolve;
      socket.onerror = () => reject(new Error("cannot connect to the server"));
    });
    socket.onmessage = (event) => showMessage(JSON.parse(event.data));
    socket.onclose = (event) => {
      showStatus(event.code === 1000 ? "Stopped." : `Closed by the server (${event.code}): ${event.reason}`);
      release();
    };
    socket.send(JSON.stringify({config: {sample_rate: context.sampleRate}}));
    const node = new AudioWorkletNode(context, "pcm-capture",
      {processorOptions: {blockSize: Math.round(context.sampleRate / 10)}});
    capture.node = node;
    node.port.onmessage = (event) => {
      if (socket.readyState !== WebSocket.OPEN) return;
      socket.send(event.data === "flushed" ? '{"eof" : 1}' : event.data);
    };
    node.connect(context.destination);  // outputs silence; keeps the node in the rendered graph
    capture.media = await navigator.mediaDevices.getUserMedia(
      {audio: {channelCount: 1, echoCancellation: false, noiseSuppression: false, autoGainControl: false}});
    context.createMediaStreamSource(capture.media).connect(node);
    $("stop").disabled = false;
    showStatus(`Listening at ${context.sampleRate} Hz…`);
  } catch (error) {
    showStatus(`Cannot start: ${error.message}`);
    if (capture && capture.socket) capture.socket.close();
    release();
  }
}

function stop() {
  // The worklet sends its last samples, then "flushed": eof goes out, the final comes back, the server closes.
  $("stop").disabled = true;
  showStatus("Finishing…");
  capture.node.port.postMessage("stop");
}

async function upload() {
  const file = $("file").files[0];
  if (!file) {
    $("file-status").textContent = "Choose an audio file first.";
    return;
  }
  $("file-status").textContent = `Transcribing ${file.name}…`;
  $("file-text").textContent = "";
  $("file-words").textContent = "";
  const form = new FormData();
  form.append("file", file);
  const response = await fetch("/transcribe", {method: "POST", body: form,
    headers: token ? {Authorization: `Bearer ${token}`} : {}});
  const json = (response.headers.get("content-type") || "").includes("json");
  const body = json ? await response.json() : {error: await response.text()};
  if (!response.ok) {
    $("file-status").textContent = `Error ${response.status}: ${body.error}`;
    return;
  }
  $("file-status").textContent = `${body.path}: ${body.duration.toFixed(2)} s of audio`;
  $("file-text").textContent = body.text;
  $("file-words").textContent = body.words.map((w) => `${w.word} ${clock(w.start)}–${clock(w.end)}`).join(", ");
}

$("start").onclick = start;
$("stop").onclick = stop;
$("upload").onclick = upload;
