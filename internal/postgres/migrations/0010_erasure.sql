-- Data-subject requests name their subject in one spelling from now on
-- (an E.164 number, or a lower-case account id), so that erasing an
-- account finds every request about it. Earlier requests are brought to
-- that spelling where it is plain how: a number written with spaces,
-- hyphens, dots, slashes or parentheses, an account id in capitals.
UPDATE dsr_requests SET subject = regexp_replace(subject, '[ .()/-]', '', 'g')
WHERE subject ~ '^\+[0-9 .()/-]+$';
UPDATE dsr_requests SET subject = lower(subject)
WHERE subject ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$';
