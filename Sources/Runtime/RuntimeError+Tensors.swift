import GGUF

extension RuntimeError {
    static func missingTensor(_ name: String, file: String) -> RuntimeError {
        .invalidHyperparameter(key: name, value: "absent", expected: "a tensor of this name", file: file)
    }

    static func badShape(_ name: String, _ shape: [Int], expected: [Int], file: String) -> RuntimeError {
        .invalidHyperparameter(key: name, value: "shape \(shape)", expected: "shape \(expected)", file: file)
    }

    static func unsupportedType(_ name: String, _ type: GGMLType, file: String) -> RuntimeError {
        .invalidHyperparameter(key: name, value: "type \(type.name)", expected: "one of " + Quant.supported.map(\.name).sorted().joined(separator: ", "), file: file)
    }
}
