/** The per-viewer bandwidth estimator (issue 17): re-exports only. */
export { BandwidthEstimator, type BandwidthEstimate, type BandwidthEstimatorOptions, type ProbeRequest } from './bandwidth-estimator.ts';
export type { ProbeCluster, ProbeOptions } from './probe-controller.ts';
export type { ProbeOutcome } from './probe-result.ts';
export type { BandwidthUsage } from './trendline.ts';
export { parseTwccFeedback, twccSequenceAt, type TwccFeedback } from './twcc-feedback.ts';
