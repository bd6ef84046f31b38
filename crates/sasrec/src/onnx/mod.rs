//! The ONNX export of SASRec, written from the trained weights.
//!
//! The graph takes embeddings, not ids (`docs/DESIGN.md`, "The model artifact"):
//!
//! ```text
//! history    f32[batch, L, d]   the user's last L track embeddings, left-padded with zeros
//! mask       f32[batch, L]      1 for a real track, 0 for padding
//! candidates f32[batch, C, d]   the candidates' embeddings
//! scores     f32[batch, C]      one logit per candidate
//! user_state f32[batch, d]      the encoder's state at the last position: scores = candidates · user_state
//! ```
//!
//! `user_state` lets a server cache a listener's encoding keyed by their history and score new
//! candidates with one dot product each, without running the encoder again.
//!
//! So the edge gathers at most L + C vectors from its feature store and the catalogue can grow
//! without growing the model. The graph stays portable: opset 13, float masks only (no bool
//! tensors), layer norm from ReduceMean/Sub/Mul/Add/Sqrt/Div, and every operation in the same
//! order as [`crate::SasRec::score_candidates`], so runtimes agree with burn to ~1e-6.

mod import;
pub mod proto;

pub use import::{ImportError, import};

use burn::module::Param;
use burn::nn::Linear;
use burn::tensor::Tensor;
use prost::Message;

use self::proto::*;
use crate::block::{LayerNorm, SelfAttentionBlock};
use crate::sasrec::SasRec;
use crate::{LAYER_NORM_EPSILON, MASKED};

/// The opset the graph is written against (≤ 15, so narrow runtimes can run it).
pub const OPSET: i64 = 13;

/// The names and shapes of the graph's inputs and output, as recorded in the manifest.
pub fn signature(max_len: usize, d_model: usize) -> [(&'static str, Vec<String>); 5] {
    let d = d_model.to_string();
    let l = max_len.to_string();
    [
        ("history", vec!["batch".into(), l.clone(), d.clone()]),
        ("mask", vec!["batch".into(), l]),
        ("candidates", vec!["batch".into(), "candidates".into(), d]),
        ("scores", vec!["batch".into(), "candidates".into()]),
        ("user_state", vec!["batch".into(), d_model.to_string()]),
    ]
}

/// Serialises the model's serving path ([`SasRec::score_candidates`]) as an ONNX model.
pub fn export(model: &SasRec, producer_version: &str) -> Vec<u8> {
    let (len, d_model) = (model.max_len(), model.d_model());
    let heads = model.blocks.first().map_or(1, |b| b.attention.heads());
    let mut g = Graph::default();

    // x = (history · √d + positions) · keep
    let sqrt_d = g.scalar("sqrt_d", (d_model as f32).sqrt());
    let positions = g.weight("position_embedding", &model.position_embedding.weight);
    let scaled = g.op("Mul", &["history", &sqrt_d], &[]);
    let embedded = g.op("Add", &[&scaled, &positions], &[]);
    let axis_2 = g.ints("axis_2", &[2]);
    let keep = g.op("Unsqueeze", &["mask", &axis_2], &[]); // [B, L, 1]
    let mut x = g.op("Mul", &[&embedded, &keep], &[]);

    // mask = future[L, L] + (1 − keep)·MASKED  →  [B, 1, L, L]
    let future: Vec<f32> = (0..len)
        .flat_map(|q| (0..len).map(move |k| if k > q { MASKED } else { 0.0 }))
        .collect();
    let future = g.tensor("future", &[1, 1, len as i64, len as i64], &future);
    let one = g.scalar("one", 1.0);
    let masked = g.scalar("masked", MASKED);
    let negated = g.op("Neg", &["mask"], &[]);
    let padding = g.op("Add", &[&negated, &one], &[]);
    let padding = g.op("Mul", &[&padding, &masked], &[]);
    let axes_1_2 = g.ints("axes_1_2", &[1, 2]);
    let padding = g.op("Unsqueeze", &[&padding, &axes_1_2], &[]); // [B, 1, 1, L]
    let attention_mask = g.op("Add", &[&future, &padding], &[]);

    let consts = BlockConstants {
        split_shape: g.ints(
            "split_shape",
            &[0, 0, heads as i64, (d_model / heads) as i64],
        ),
        merge_shape: g.ints("merge_shape", &[0, 0, d_model as i64]),
        scale: g.scalar("attention_scale", ((d_model / heads) as f32).sqrt()),
        epsilon: g.scalar("epsilon", LAYER_NORM_EPSILON as f32),
        attention_mask,
        keep,
    };
    // Only the last position is scored, so the last block computes its queries, attention
    // rows and feed-forward for that position alone (keys and values still span the history):
    // the same numbers at about half the last block's cost.
    let last_block = model.blocks.len().saturating_sub(1);
    for (i, block) in model.blocks.iter().enumerate() {
        let rows = if i == last_block {
            Rows::Last(len as i64)
        } else {
            Rows::All
        };
        x = g.block(&format!("blocks.{i}"), block, &x, &consts, rows);
    }
    let states = g.layer_norm("final_norm", &model.final_norm, &x, &consts.epsilon);

    // scores = candidates · state[:, last]; after the last block only the last position is left.
    let last_index = match model.blocks.len() {
        0 => g.index("last_position", len as i64 - 1),
        _ => g.index("last_position", 0),
    };
    let last = g.op("Gather", &[&states, &last_index], &[("axis", Attr::Int(1))]); // [B, d]
    g.named_op("Identity", &[&last], "user_state");
    let last = g.op("Unsqueeze", &[&last, &axis_2], &[]); // [B, d, 1]
    let scores = g.op("MatMul", &["candidates", &last], &[]); // [B, C, 1]
    g.named_op("Squeeze", &[&scores, &axis_2], "scores");

    let [history, mask, candidates, scores, user_state] = signature(len, d_model);
    let model = ModelProto {
        ir_version: 7,
        producer_name: "resonance-sasrec".into(),
        producer_version: producer_version.into(),
        doc_string: "SASRec (Kang & McAuley 2018): scores candidates from history embeddings"
            .into(),
        opset_import: vec![OperatorSetIdProto {
            domain: String::new(),
            version: OPSET,
        }],
        graph: Some(GraphProto {
            name: "sasrec".into(),
            node: g.nodes,
            initializer: g.initializers,
            input: vec![
                value_info(&history),
                value_info(&mask),
                value_info(&candidates),
            ],
            output: vec![value_info(&scores), value_info(&user_state)],
        }),
    };
    model.encode_to_vec()
}

fn value_info((name, dims): &(&str, Vec<String>)) -> ValueInfoProto {
    let dim = dims
        .iter()
        .map(|d| match d.parse::<i64>() {
            Ok(v) => Dimension {
                dim_value: Some(v),
                dim_param: None,
            },
            Err(_) => Dimension {
                dim_value: None,
                dim_param: Some(d.clone()),
            },
        })
        .collect();
    ValueInfoProto {
        name: name.to_string(),
        r#type: Some(TypeProto {
            tensor_type: Some(TensorTypeProto {
                elem_type: data_type::FLOAT,
                shape: Some(TensorShapeProto { dim }),
            }),
        }),
    }
}

/// Which query positions a block computes.
#[derive(Clone, Copy)]
enum Rows {
    All,
    /// Only the last of L positions.
    Last(i64),
}

/// Values every block shares.
struct BlockConstants {
    split_shape: String,
    merge_shape: String,
    scale: String,
    epsilon: String,
    attention_mask: String,
    keep: String,
}

enum Attr<'a> {
    Int(i64),
    Ints(&'a [i64]),
}

/// A graph under construction: nodes in order and named initializers.
#[derive(Default)]
struct Graph {
    nodes: Vec<NodeProto>,
    initializers: Vec<TensorProto>,
    counter: usize,
}

impl Graph {
    fn tensor(&mut self, name: &str, dims: &[i64], values: &[f32]) -> String {
        self.initializers.push(TensorProto {
            dims: dims.to_vec(),
            data_type: data_type::FLOAT,
            name: name.to_string(),
            raw_data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        });
        name.to_string()
    }

    fn weight<const D: usize>(&mut self, name: &str, param: &Param<Tensor<D>>) -> String {
        let tensor = param.val();
        let dims: Vec<i64> = tensor.dims().iter().map(|&d| d as i64).collect();
        let values = tensor.try_into_vec_as::<f32>().expect("weights are f32");
        self.tensor(name, &dims, &values)
    }

    fn scalar(&mut self, name: &str, value: f32) -> String {
        self.tensor(name, &[], &[value])
    }

    fn ints(&mut self, name: &str, values: &[i64]) -> String {
        self.initializers.push(TensorProto {
            dims: vec![values.len() as i64],
            data_type: data_type::INT64,
            name: name.to_string(),
            raw_data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        });
        name.to_string()
    }

    /// A scalar int64 index (rank 0), as Gather needs to drop the axis.
    fn index(&mut self, name: &str, value: i64) -> String {
        self.initializers.push(TensorProto {
            dims: vec![],
            data_type: data_type::INT64,
            name: name.to_string(),
            raw_data: value.to_le_bytes().to_vec(),
        });
        name.to_string()
    }

    fn op(&mut self, op_type: &str, inputs: &[&str], attrs: &[(&str, Attr<'_>)]) -> String {
        self.counter += 1;
        let output = format!("{}_{}", op_type.to_ascii_lowercase(), self.counter);
        self.named_op(op_type, inputs, &output);
        let node = self.nodes.last_mut().expect("just pushed");
        node.attribute = attrs
            .iter()
            .map(|(name, attr)| match attr {
                Attr::Int(i) => AttributeProto {
                    name: name.to_string(),
                    i: *i,
                    r#type: attribute_type::INT,
                    ..Default::default()
                },
                Attr::Ints(v) => AttributeProto {
                    name: name.to_string(),
                    ints: v.to_vec(),
                    r#type: attribute_type::INTS,
                    ..Default::default()
                },
            })
            .collect();
        output
    }

    fn named_op(&mut self, op_type: &str, inputs: &[&str], output: &str) {
        self.nodes.push(NodeProto {
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: vec![output.to_string()],
            name: output.to_string(),
            op_type: op_type.to_string(),
            attribute: vec![],
        });
    }

    /// `x · W + b`, as burn's row-layout Linear computes it.
    fn linear(&mut self, name: &str, linear: &Linear, x: &str) -> String {
        let weight = self.weight(&format!("{name}.weight"), &linear.weight);
        let product = self.op("MatMul", &[x, &weight], &[]);
        match &linear.bias {
            Some(bias) => {
                let bias = self.weight(&format!("{name}.bias"), bias);
                self.op("Add", &[&product, &bias], &[])
            }
            None => product,
        }
    }

    /// The same steps as [`LayerNorm::forward`].
    fn layer_norm(&mut self, name: &str, norm: &LayerNorm, x: &str, epsilon: &str) -> String {
        let last_axis = [("axes", Attr::Ints(&[-1])), ("keepdims", Attr::Int(1))];
        let mean = self.op("ReduceMean", &[x], &last_axis);
        let centred = self.op("Sub", &[x, &mean], &[]);
        let squared = self.op("Mul", &[&centred, &centred], &[]);
        let variance = self.op("ReduceMean", &[&squared], &last_axis);
        let shifted = self.op("Add", &[&variance, epsilon], &[]);
        let deviation = self.op("Sqrt", &[&shifted], &[]);
        let normalised = self.op("Div", &[&centred, &deviation], &[]);
        let gamma = self.weight(&format!("{name}.gamma"), &norm.gamma);
        let beta = self.weight(&format!("{name}.beta"), &norm.beta);
        let scaled = self.op("Mul", &[&normalised, &gamma], &[]);
        self.op("Add", &[&scaled, &beta], &[])
    }

    /// The same steps as [`SelfAttentionBlock::forward`] (dropout is identity at inference).
    fn block(
        &mut self,
        name: &str,
        block: &SelfAttentionBlock,
        x: &str,
        c: &BlockConstants,
        rows: Rows,
    ) -> String {
        // The positions whose outputs are computed: all, or the last one ([B, 1, d]).
        let (query_input, attention_mask, keep) = match rows {
            Rows::All => (x.to_string(), c.attention_mask.clone(), c.keep.clone()),
            Rows::Last(len) => {
                let from = self.ints(&format!("{name}.last_from"), &[len - 1]);
                let to = self.ints(&format!("{name}.last_to"), &[len]);
                let axis_1 = self.ints(&format!("{name}.axis_1"), &[1]);
                let axis_2 = self.ints(&format!("{name}.axis_2"), &[2]);
                (
                    self.op("Slice", &[x, &from, &to, &axis_1], &[]),
                    // the mask's last query row: [B, 1, 1, L]
                    self.op("Slice", &[&c.attention_mask, &from, &to, &axis_2], &[]),
                    self.op("Slice", &[&c.keep, &from, &to, &axis_1], &[]),
                )
            }
        };
        let queries = self.layer_norm(
            &format!("{name}.attention_norm"),
            &block.attention_norm,
            &query_input,
            &c.epsilon,
        );
        let attention = &block.attention;
        let heads = |g: &mut Self, projected: &str, perm: &'static [i64]| {
            let split = g.op("Reshape", &[projected, &c.split_shape], &[]);
            g.op("Transpose", &[&split], &[("perm", Attr::Ints(perm))])
        };
        let q = self.linear(
            &format!("{name}.attention.query"),
            &attention.query,
            &queries,
        );
        let k = self.linear(&format!("{name}.attention.key"), &attention.key, x);
        let v = self.linear(&format!("{name}.attention.value"), &attention.value, x);
        let q = heads(self, &q, &[0, 2, 1, 3]); // [B, H, L, d/H]
        let k = heads(self, &k, &[0, 2, 3, 1]); // [B, H, d/H, L]
        let v = heads(self, &v, &[0, 2, 1, 3]);
        let scores = self.op("MatMul", &[&q, &k], &[]);
        let scores = self.op("Div", &[&scores, &c.scale], &[]);
        let scores = self.op("Add", &[&scores, &attention_mask], &[]);
        let weights = self.op("Softmax", &[&scores], &[("axis", Attr::Int(-1))]);
        let context = self.op("MatMul", &[&weights, &v], &[]);
        let context = self.op(
            "Transpose",
            &[&context],
            &[("perm", Attr::Ints(&[0, 2, 1, 3]))],
        );
        let context = self.op("Reshape", &[&context, &c.merge_shape], &[]);
        let attended = self.linear(
            &format!("{name}.attention.output"),
            &attention.output,
            &context,
        );
        let attended = self.op("Add", &[&queries, &attended], &[]);

        let normed = self.layer_norm(
            &format!("{name}.feed_forward_norm"),
            &block.feed_forward_norm,
            &attended,
            &c.epsilon,
        );
        let ff = &block.feed_forward;
        let hidden = self.linear(&format!("{name}.feed_forward.inner"), &ff.inner, &normed);
        let hidden = self.op("Relu", &[&hidden], &[]);
        let out = self.linear(&format!("{name}.feed_forward.outer"), &ff.outer, &hidden);
        let out = self.op("Add", &[&normed, &out], &[]);
        self.op("Mul", &[&out, &keep], &[])
    }
}
