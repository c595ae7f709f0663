// As Vite's React template configures it: the React plugin, nothing else.
import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

export default defineConfig({ plugins: [react()] });
