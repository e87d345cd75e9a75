// Test audio made in the test: a 16-bit stereo WAV of a few sines (no files needed).
export function makeWav(seconds = 4, sampleRate = 44100): Buffer {
  const frames = Math.round(seconds * sampleRate);
  const data = Buffer.alloc(frames * 4);
  for (let i = 0; i < frames; i++) {
    const t = i / sampleRate;
    // A little "song": a bass note, a chord and a pulsing high tone, different per channel.
    const pulse = 0.5 + 0.5 * Math.sin(2 * Math.PI * 2 * t);
    const common = 0.25 * Math.sin(2 * Math.PI * 110 * t) + 0.1 * pulse * Math.sin(2 * Math.PI * 1760 * t);
    const left = common + 0.15 * Math.sin(2 * Math.PI * 440 * t);
    const right = common + 0.15 * Math.sin(2 * Math.PI * 554.37 * t);
    data.writeInt16LE(Math.round(Math.max(-1, Math.min(1, left)) * 32767), i * 4);
    data.writeInt16LE(Math.round(Math.max(-1, Math.min(1, right)) * 32767), i * 4 + 2);
  }
  const header = Buffer.alloc(44);
  header.write("RIFF", 0);
  header.writeUInt32LE(36 + data.length, 4);
  header.write("WAVE", 8);
  header.write("fmt ", 12);
  header.writeUInt32LE(16, 16);
  header.writeUInt16LE(1, 20); // PCM
  header.writeUInt16LE(2, 22); // channels
  header.writeUInt32LE(sampleRate, 24);
  header.writeUInt32LE(sampleRate * 4, 28);
  header.writeUInt16LE(4, 32);
  header.writeUInt16LE(16, 34);
  header.write("data", 36);
  header.writeUInt32LE(data.length, 40);
  return Buffer.concat([header, data]);
}
