// Runs on the audio thread: mixes the microphone to mono, converts it to 16-bit PCM and posts
// blocks of `blockSize` samples (100 ms) to the page, which sends them over the WebSocket.
// Int16Array is little-endian on every platform browsers run on, as the protocol wants.
class PcmCapture extends AudioWorkletProcessor {
  constructor(options) {
    super();
    this.size = options.processorOptions.blockSize;
    this.block = new Int16Array(this.size);
    this.filled = 0;
    this.port.onmessage = () => this.flush();  // "stop": send what is left
  }

  flush() {
    if (this.filled > 0) this.port.postMessage(this.block.slice(0, this.filled).buffer);
    this.filled = 0;
    this.port.postMessage("flushed");
  }

  process(inputs) {
    const channels = inputs[0];
    if (channels.length === 0) return true;
    for (let i = 0; i < channels[0].length; i++) {
      let value = 0;
      for (const channel of channels) value += channel[i];
      value = Math.max(-1, Math.min(1, value / channels.length));
      this.block[this.filled++] = value < 0 ? value * 0x8000 : value * 0x7fff;
      if (this.filled === this.size) {
        this.port.postMessage(this.block.buffer, [this.block.buffer]);
        this.block = new Int16Array(this.size);
        this.filled = 0;
      }
    }
    return true;
  }
}

registerProcessor("pcm-capture", PcmCapture);
