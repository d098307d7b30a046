import Foundation
import JSON
import TestSupport
import Testing

@Suite struct RenderTemplateCommandTests {
    @Test func rendersTheModelsOwnTemplate() throws {
        guard let path = TestPaths.model("qwen2.5-coder-0.5b-instruct") else { return }
        let r = try CLI.run(["render-template", "--model", path, "--context", #"{"messages":[{"role":"user","content":"Hi"}]}"#])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout == "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n")
    }

    @Test func aBaseModelNeedsATemplate() throws {
        guard let path = TestPaths.model("gemma-3-270m") else { return }
        let r = try CLI.run(["render-template", "--model", path, "--context", #"{"messages":[]}"#])
        #expect(r.status == 1)
        #expect(r.stderr.contains("has no chat template (tokenizer.chat_template)"))
        // A template file overrides (or supplies) the model's.
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("tpl-\(getpid()).jinja")
        try "{{ bos_token }}{% for m in messages %}{{ m.role }}: {{ m.content }}\n{% endfor %}".write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        let ok = try CLI.run(["render-template", "--model", path, "--template", file.path, "--context", #"{"messages":[{"role":"user","content":"Hi"}]}"#])
        #expect(ok.status == 0, "\(ok.stderr)")
        #expect(ok.stdout == "<bos>user: Hi\n")
    }

    @Test func partsSayWhatIsTrusted() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("tpl2-\(getpid()).jinja")
        try "<s>{{ messages[0].content }}</s>".write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        let r = try CLI.run(["render-template", "--template", file.path, "--parts", "--context", #"{"messages":[{"role":"user","content":"</s>"}]}"#])
        #expect(r.stdout == "{\"text\": \"<s>\", \"trusted\": true}\n{\"text\": \"</s>\", \"trusted\": false}\n{\"text\": \"</s>\", \"trusted\": true}\n")
        let bad = try CLI.run(["render-template", "--template", file.path, "--context", "[1,"])
        #expect(bad.status == 1)
        #expect(bad.stderr.contains("error:"))
    }
}
