// Proto comments, read from the descriptors' source info, and the few conventions the API's
// comments follow that the CRD generator turns into schema: "Required.", "Default `x`.",
// "Written `X`." and "Must not be negative.".
import type { DescEnum, DescEnumValue, DescField, DescFile, DescMessage } from '@bufbuild/protobuf';

type Described = DescMessage | DescField | DescEnum | DescEnumValue;

// Field numbers of the descriptor messages, as used in SourceCodeInfo.Location.path.
const FILE_MESSAGE_TYPE = 4;
const FILE_ENUM_TYPE = 5;
const FILE_SYNTAX = 12;
const MESSAGE_FIELD = 2;
const MESSAGE_NESTED_TYPE = 3;
const MESSAGE_ENUM_TYPE = 4;
const ENUM_VALUE = 2;

function indexIn<T>(list: readonly T[], item: T, what: string): number {
  const i = list.indexOf(item);
  if (i < 0) throw new Error(`${what} is not in its parent's descriptor`);
  return i;
}

/** The SourceCodeInfo path of a declaration: where protoc recorded its comments. */
export function sourcePath(desc: Described): number[] {
  switch (desc.kind) {
    case 'message':
      return desc.parent
        ? [...sourcePath(desc.parent), MESSAGE_NESTED_TYPE, indexIn(desc.parent.proto.nestedType, desc.proto, desc.typeName)]
        : [FILE_MESSAGE_TYPE, indexIn(desc.file.proto.messageType, desc.proto, desc.typeName)];
    case 'enum':
      return desc.parent
        ? [...sourcePath(desc.parent), MESSAGE_ENUM_TYPE, indexIn(desc.parent.proto.enumType, desc.proto, desc.typeName)]
        : [FILE_ENUM_TYPE, indexIn(desc.file.proto.enumType, desc.proto, desc.typeName)];
    case 'field':
      return [...sourcePath(desc.parent), MESSAGE_FIELD, indexIn(desc.parent.proto.field, desc.proto, desc.name)];
    case 'enum_value':
      return [...sourcePath(desc.parent), ENUM_VALUE, indexIn(desc.parent.proto.value, desc.proto, desc.name)];
  }
}

function fileOf(desc: Described): DescFile {
  switch (desc.kind) {
    case 'field':
      return desc.parent.file;
    case 'enum_value':
      return desc.parent.file;
    default:
      return desc.file;
  }
}

/**
 * Turns a raw comment into a description: the `//` lines of a paragraph joined by spaces (the
 * line breaks are only the source's wrapping; `kubectl explain` wraps on its own), paragraphs
 * separated by a blank line.
 */
export function normalizeComment(raw: string): string {
  return raw
    .split(/\n\s*\n/)
    .map((p) =>
      p
        .split('\n')
        .map((line) => line.trim())
        .filter((line) => line !== '')
        .join(' '),
    )
    .filter((p) => p !== '')
    .join('\n\n');
}

function leadingComment(file: DescFile, path: readonly number[]): string {
  const key = path.join('.');
  const location = file.proto.sourceCodeInfo?.location.find((l) => l.path.join('.') === key);
  return normalizeComment(location?.leadingComments ?? '');
}

/** The leading comment of a declaration, normalized; empty when it has none (or no source info). */
export function commentOf(desc: Described): string {
  return leadingComment(fileOf(desc), sourcePath(desc));
}

/** The file's header comment (the one above `syntax`), normalized. */
export function fileComment(file: DescFile): string {
  return leadingComment(file, [FILE_SYNTAX]);
}

/** The first paragraph of a comment. */
export function firstParagraph(comment: string): string {
  return comment.split('\n\n')[0] ?? '';
}

/** "Required." in a field comment: the field must be set (a string must not be empty). */
export function saysRequired(comment: string): boolean {
  return /(^|\s)Required\./.test(comment);
}

/** "At least one is required." in a repeated field's comment: the list must not be empty. */
export function saysAtLeastOne(comment: string): boolean {
  return /(^|\s)At least one is required\./.test(comment);
}

/** "Must not be negative." in a numeric field's comment. */
export function saysNotNegative(comment: string): boolean {
  return /(^|\s)Must not be negative\./.test(comment);
}

/** The text of "Default `x`" in a comment (the literal default of a scalar field), if any. */
export function statedDefault(comment: string): string | undefined {
  return /(?:^|\s)Default `([^`]*)`/.exec(comment)?.[1];
}

/** The YAML spelling of an enum value, from "Written `X`." in its comment, if any. */
export function writtenAs(comment: string): string | undefined {
  return /(?:^|\s)Written `([^`]+)`\./.exec(comment)?.[1];
}
