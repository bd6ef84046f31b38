//! The way back from the export: a burn [`SasRec`] built from an exported graph's weights.
//!
//! The browser's WebGPU engine runs burn, not ONNX, but it must run the very weights the
//! Worker runs on tract. Rather than publish a second artifact, it reads them out of the
//! published `sasrec.onnx`: every weight is a named initializer (`blocks.0.attention.query
//! .weight`, …), and the hyperparameters follow from their shapes (L and d from
//! `position_embedding`, the heads from `split_shape`, the blocks from their count). One file,
//! one checksum, two engines.
//!
//! The serving path never reads the item-embedding table (the edge sends embeddings), so the
//! imported model has a one-row table.

use std::collections::HashMap;

use burn::module::Param;
use burn::tensor::{Device, Tensor, TensorData};
use prost::Message;

use super::proto::{ModelProto, TensorProto, data_type};
use crate::config::SasRecConfig;
use crate::sasrec::SasRec;

/// Why a graph cannot become a burn model.
#[derive(Debug, Clone, PartialEq)]
pub enum ImportError {
    /// The bytes are not an ONNX model.
    Decode(String),
    /// A weight the model needs is not in the graph.
    Missing(String),
    /// A weight has the wrong shape or type for this model.
    Shape {
        /// The initializer's name.
        name: String,
        /// What was expected and what was found.
        message: String,
    },
}

impl std::fmt::Display for ImportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Decode(e) => write!(f, "not an ONNX model: {e}"),
            Self::Missing(name) => write!(
                f,
                "the graph has no initializer `{name}` (is it a Resonance SASRec export?)"
            ),
            Self::Shape { name, message } => write!(f, "initializer `{name}`: {message}"),
        }
    }
}

impl std::error::Error for ImportError {}

/// Builds the model the graph was exported from, on `device`, ready for
/// [`SasRec::score_candidates`].
pub fn import(bytes: &[u8], device: &Device) -> Result<SasRec, ImportError> {
    let model = ModelProto::decode(bytes).map_err(|e| ImportError::Decode(e.to_string()))?;
    let graph = model
        .graph
        .ok_or_else(|| ImportError::Decode("the model has no graph".into()))?;
    let weights = Weights {
        by_name: graph
            .initializer
            .iter()
            .map(|t| (t.name.as_str(), t))
            .collect(),
        device,
    };

    let positions = weights.get("position_embedding")?;
    let [max_len, d_model] = dims::<2>("position_embedding", positions)?;
    let split = weights.ints("split_shape")?;
    let heads = match split.as_slice() {
        [_, _, heads, _] if *heads > 0 => *heads as usize,
        _ => {
            return Err(ImportError::Shape {
                name: "split_shape".into(),
                message: format!("expected [0, 0, heads, d/heads], found {split:?}"),
            });
        }
    };
    let layers = (0..)
        .take_while(|i| {
            weights
                .by_name
                .contains_key(format!("blocks.{i}.attention_norm.gamma").as_str())
        })
        .count();
    let config = SasRecConfig::new(1)
        .with_max_len(max_len)
        .with_d_model(d_model)
        .with_heads(heads)
        .with_layers(layers)
        .with_dropout(0.0);
    config.check().map_err(|message| ImportError::Shape {
        name: "position_embedding".into(),
        message,
    })?;

    let mut sasrec = config.init(device);
    sasrec.position_embedding.weight = weights.param("position_embedding", [max_len, d_model])?;
    let square = [d_model, d_model];
    for (i, block) in sasrec.blocks.iter_mut().enumerate() {
        let name = |part: &str| format!("blocks.{i}.{part}");
        for (norm, part) in [
            (&mut block.attention_norm, "attention_norm"),
            (&mut block.feed_forward_norm, "feed_forward_norm"),
        ] {
            norm.gamma = weights.param(&name(&format!("{part}.gamma")), [d_model])?;
            norm.beta = weights.param(&name(&format!("{part}.beta")), [d_model])?;
        }
        let attention = &mut block.attention;
        let feed_forward = &mut block.feed_forward;
        for (linear, part) in [
            (&mut attention.query, "attention.query"),
            (&mut attention.key, "attention.key"),
            (&mut attention.value, "attention.value"),
            (&mut attention.output, "attention.output"),
            (&mut feed_forward.inner, "feed_forward.inner"),
            (&mut feed_forward.outer, "feed_forward.outer"),
        ] {
            linear.weight = weights.param(&name(&format!("{part}.weight")), square)?;
            let bias = name(&format!("{part}.bias"));
            linear.bias = match weights.by_name.contains_key(bias.as_str()) {
                true => Some(weights.param(&bias, [d_model])?),
                false => None,
            };
        }
    }
    sasrec.final_norm.gamma = weights.param("final_norm.gamma", [d_model])?;
    sasrec.final_norm.beta = weights.param("final_norm.beta", [d_model])?;
    Ok(sasrec)
}

/// The graph's initializers by name.
struct Weights<'a> {
    by_name: HashMap<&'a str, &'a TensorProto>,
    device: &'a Device,
}

impl Weights<'_> {
    fn get(&self, name: &str) -> Result<&TensorProto, ImportError> {
        self.by_name
            .get(name)
            .copied()
            .ok_or_else(|| ImportError::Missing(name.to_string()))
    }

    fn ints(&self, name: &str) -> Result<Vec<i64>, ImportError> {
        let tensor = self.get(name)?;
        if tensor.data_type != data_type::INT64 || tensor.raw_data.len() % 8 != 0 {
            return Err(shape_error(name, "expected int64 values"));
        }
        Ok(tensor
            .raw_data
            .chunks_exact(8)
            .map(|b| i64::from_le_bytes(b.try_into().expect("chunks of 8")))
            .collect())
    }

    /// An f32 weight of exactly `expected` shape, as a parameter on the device.
    fn param<const D: usize>(
        &self,
        name: &str,
        expected: [usize; D],
    ) -> Result<Param<Tensor<D>>, ImportError> {
        let tensor = self.get(name)?;
        let found = dims::<D>(name, tensor)?;
        if found != expected {
            return Err(shape_error(
                name,
                &format!("expected shape {expected:?}, found {found:?}"),
            ));
        }
        if tensor.data_type != data_type::FLOAT
            || tensor.raw_data.len() != 4 * expected.iter().product::<usize>()
        {
            return Err(shape_error(name, "expected raw little-endian f32 values"));
        }
        let values: Vec<f32> = tensor
            .raw_data
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().expect("chunks of 4")))
            .collect();
        let data = TensorData::new(values, expected);
        Ok(Param::from_tensor(Tensor::from_data(data, self.device)))
    }
}

fn dims<const D: usize>(name: &str, tensor: &TensorProto) -> Result<[usize; D], ImportError> {
    let dims: Vec<usize> = tensor
        .dims
        .iter()
        .map(|&d| usize::try_from(d).unwrap_or(0))
        .collect();
    dims.as_slice()
        .try_into()
        .map_err(|_| shape_error(name, &format!("expected rank {D}, found {:?}", tensor.dims)))
}

fn shape_error(name: &str, message: &str) -> ImportError {
    ImportError::Shape {
        name: name.to_string(),
        message: message.to_string(),
    }
}
